"""Probe-building throughput, end to end through the CLI with --report.

Generates a 200,000-record SSv2-format file spanning all 174 templates and a 300,000-narration EgoClip-format
file, then times `actionbench build-probes ... --report` on each (goal: each under a minute on a 2-core machine).

    python benchmarks/probe_throughput.py [--ssv2 200000] [--ego4d 300000] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from actionbench.lexicon import Lexicon
from actionbench.lexicon.ssv2 import slots, unbracket

NOUNS = ["pen", "cup", "box", "book", "phone", "bottle", "spoon", "remote control", "towel", "glass jar",
         "apple", "key", "wallet", "paper", "coin", "shoe", "lid", "plate", "bowl", "sponge"]
DETS = ["", "a ", "the ", "my "]
ACTORS = ["#C C", "#c c", "#C  C", "#O the man X", "#O A woman Y", "#O person Z"]
VERBS = ["picks up", "puts down", "opens", "closes", "pushes", "pulls", "lifts", "lowers", "turns on", "turns off",
         "holds", "looks at", "cuts", "washes", "takes out", "puts in", "covers", "uncovers", "fills", "empties"]
PREPS = ["", " with the right hand", " on the table", " from the shelf", " in the sink"]


def make_ssv2(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    templates = [row.template for row in Lexicon.load().ssv2]
    path.mkdir(parents=True, exist_ok=True)
    labels = {unbracket(t): str(i) for i, t in enumerate(sorted(templates))}
    records = []
    for i in range(n):
        t = templates[i % len(templates)]
        ph = [DETS[rng.integers(len(DETS))] + NOUNS[rng.integers(len(NOUNS))] for _ in slots(t)]
        label = t
        for p in ph:
            label = label[: label.index("[")] + p + label[label.index("]") + 1 :]
        records.append({"id": str(i), "label": label.lower(), "template": t, "placeholders": ph})
    (path / "labels.json").write_text(json.dumps(labels))
    (path / "validation.json").write_text(json.dumps(records))


def make_ego4d(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as f:
        for i in range(n):
            vid = f"video-{i // 300:05d}"
            text = f"{ACTORS[rng.integers(len(ACTORS))]} {VERBS[rng.integers(len(VERBS))]} the " \
                   f"{NOUNS[rng.integers(len(NOUNS))]}{PREPS[rng.integers(len(PREPS))]}"
            t = float(i % 300) * 2.0
            f.write(json.dumps({
                "video_uid": vid, "video_dur": 600.0, "narration_source": "narration_pass_1", "narration_ind": i,
                "narration_time": t, "clip_start": t - 0.5, "clip_end": t + 0.5, "clip_text": text,
                "tag_verb": "[0]", "tag_noun": "[0]", "clip_uid": f"clip-{i // 300:05d}",
                "narration_relative_time": t, "clip_relative_start": t - 0.5, "clip_relative_end": t + 0.5,
                "clip_fps": 30.0,
            }) + "\n")


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ssv2", type=int, default=200_000)
    ap.add_argument("--ego4d", type=int, default=300_000)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ab-throughput-"))
    make_ssv2(work / "ssv2", args.ssv2)
    make_ego4d(work / "ego4d.jsonl", args.ego4d)
    cli = [sys.executable, "-m", "actionbench", "build-probes"]
    from actionbench.lexicon.ssv2 import load_ssv2_table

    t0 = time.perf_counter()
    load_ssv2_table()
    print(f"loading the shipped SSv2 antonym table: {time.perf_counter() - t0:.3f} s (goal: under 0.5 s)")
    t_ssv2 = timed(cli + ["--dataset", "ssv2", "--annotations", str(work / "ssv2"), "--split", "val",
                          "--out", str(work / "ps-ssv2"), "--report"])
    t_ego = timed(cli + ["--dataset", "ego4d", "--annotations", str(work / "ego4d.jsonl"), "--split", "all",
                         "--out", str(work / "ps-ego4d"), "--report"])
    for name, n, t, folder in (("SSv2", args.ssv2, t_ssv2, "ps-ssv2"), ("Ego4D", args.ego4d, t_ego, "ps-ego4d")):
        counts = json.loads((work / folder / "manifest.json").read_text())["counts"]
        print(f"{name}: {n:,} records in {t:.1f} s ({n / t:,.0f} records/s), probes {counts}")


if __name__ == "__main__":
    main()
