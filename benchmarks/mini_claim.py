"""The paper's claim on the mini benchmark, for several generator seeds (the issue's "Done when").

For each seed: generate the mini benchmark, build its probe sets, train the mini backbone, a KP-Perceiver with
VTC and one with VTC+DVDM, evaluate all of them (and the blind / first-frame / last-frame controls) on the SSv2
validation probes through the harness, and check the claims. Prints a table and writes `claims.json`.

    python benchmarks/mini_claim.py --seeds 0 1 2 --out /tmp/mini-claim
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

MODELS = ("mini", "blind:mini", "first-frame:mini", "last-frame:mini", "kp-perceiver-vtc-mini",
          "kp-perceiver-vtc-dvdm-mini", "blind:kp-perceiver-vtc-dvdm-mini", "first-frame:kp-perceiver-vtc-dvdm-mini",
          "last-frame:kp-perceiver-vtc-dvdm-mini")  # fmt: skip


def build_probes(data: Path, out: Path) -> dict[str, tuple[Path, Path]]:
    """{dataset-split: (probe-set folder, videos root)} for the train and validation splits."""
    from actionbench.datasets.ego4d import read_egoclip
    from actionbench.datasets.ssv2 import read_ssv2
    from actionbench.probes.build import build_probes as build

    sets = {}
    for dataset, split in (("ssv2", "train"), ("ssv2", "val"), ("ego4d", "train"), ("ego4d", "val")):
        folder = out / f"{dataset}-{split}"
        if not (folder / "manifest.json").is_file():
            result = read_ssv2(data / "ssv2", split) if dataset == "ssv2" else read_egoclip(data / "ego4d" / "egoclip.jsonl", split=split)
            build(result.clips, dataset=dataset, split=split, skipped=result.skipped, parameters={"benchmark": "mini"}).save(folder)
        sets[f"{dataset}-{split}"] = (folder, data / dataset / "videos")
    return sets


def run_seed(seed: int, out: Path, size: str, eval_set: str, progress: bool) -> dict:
    import actionbench
    from actionbench.datasets.mini import generate_mini
    from paxion_models.recipes import check_claims, train_mini_story

    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    t = time.perf_counter()
    if not (out / "mini" / "README.txt").is_file():
        generate_mini(out / "mini", seed=seed, size=size)
    sets = build_probes(out / "mini", out / "probes")
    timings["data+probes"] = time.perf_counter() - t
    t = time.perf_counter()
    story = train_mini_story([sets["ssv2-train"], sets["ego4d-train"]], out / "models", seed=seed, progress=progress)
    timings["training"] = time.perf_counter() - t
    checkpoints = {"mini": story.backbone, "kp-perceiver-vtc-mini": story.kp_vtc, "kp-perceiver-vtc-dvdm-mini": story.kp_dvdm}
    probes, videos = sets[eval_set]
    runs, predictions = {}, {}
    t = time.perf_counter()
    for name in MODELS:
        ckpt = checkpoints[name.split(":")[-1]]
        runs[name], predictions[name] = actionbench.evaluate(name, probes=[probes], videos=[videos],
                                                             model_args={"checkpoint": str(ckpt)}, cache=False)  # fmt: skip
    timings["evaluation"] = time.perf_counter() - t
    claims = check_claims(runs, predictions, seed=seed)
    table = {name: {task: round(cell["accuracy"], 1) for task, cell in next(iter(r["results"].values())).items()}
             for name, r in runs.items()}  # fmt: skip
    return {"seed": seed, "eval_set": eval_set, "accuracy": table, "timings_s": timings,
            "steps_per_second": story.steps_per_second,
            "claims": [c.__dict__ for c in claims], "all_ok": all(c.ok for c in claims)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("/tmp/paxion-mini-claim"))
    parser.add_argument("--size", default="default")
    parser.add_argument("--eval-set", default="ssv2-val")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reports = []
    for seed in args.seeds:
        report = run_seed(seed, args.out / f"seed{seed}", args.size, args.eval_set, not args.quiet)
        reports.append(report)
        print(f"\n== seed {seed} ({args.eval_set}); timings {json.dumps({k: round(v) for k, v in report['timings_s'].items()})}")
        print(f"{'model':42s} {'AA':>6s} {'VR':>6s} {'OR':>6s}")
        for name, acc in report["accuracy"].items():
            print(f"{name:42s} {acc.get('action_antonym', float('nan')):6.1f} {acc.get('video_reversal', float('nan')):6.1f} "
                  f"{acc.get('object_replacement', float('nan')):6.1f}")  # fmt: skip
        for c in report["claims"]:
            print(f"  [{'ok' if c['ok'] else 'FAIL'}] {c['what']}  {c['detail']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "claims.json").write_text(json.dumps(reports, indent=2) + "\n")
    return 0 if all(r["all_ok"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
