"""The mini recipe: the story of the paper told on the mini benchmark in a few CPU minutes.

Train the mini backbone, then a KP-Perceiver with VTC and one with VTC+DVDM on its frozen features (computed
once and shared by both runs). The hyper-parameters differ from the paper's (REFERENCE.md §5) only in scale:
a higher learning rate (2e-3) and 1,500 steps of 32 clips (12 epochs of the mini train split) instead of one
epoch over 160k clips.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from paxion_models.train import TrainConfig
from paxion_models.train_mini import MiniTrainConfig

MINI_BACKBONE = MiniTrainConfig(num_workers=2)
# Batch 32 as the paper's patcher configs: larger batches hold more same-scene clips of the opposite direction,
# which hands VTC alone some of what DVDM teaches.
MINI_PATCHER = TrainConfig(variant="perceiver", objectives="vtc", batch_size=32, steps=1500, lr=2e-3, warmup_steps=20,
                           weight_decay=0.05, cache_features=True, num_workers=2, seed=0)  # fmt: skip


@dataclass
class MiniStory:
    backbone: Path
    kp_vtc: Path
    kp_dvdm: Path
    seconds: dict[str, float]
    steps_per_second: dict[str, float]


def train_mini_story(
    sources: list[tuple[str | Path, str | Path]], out: str | Path, seed: int = 0, progress: bool = True,
    patcher_sources: list[tuple[str | Path, str | Path]] | None = None,
) -> MiniStory:  # fmt: skip
    """Mini backbone -> KP-Perceiver [VTC] -> KP-Perceiver [VTC+DVDM], under `out` (the patchers train on
    `patcher_sources`, by default the backbone's `sources`)."""
    from paxion_models.backbones import build_backbone
    from paxion_models.train import train_head
    from paxion_models.train_mini import train_mini_backbone

    out = Path(out)
    mini = train_mini_backbone(sources, out / "backbone", replace(MINI_BACKBONE, seed=seed), progress=progress)
    backbone = build_backbone("mini", checkpoint=str(mini.checkpoint))
    seconds = {"backbone": mini.seconds}
    rate = {"backbone": len(mini.history) / mini.seconds}
    paths = {}
    for name, objectives in (("kp-vtc", "vtc"), ("kp-dvdm", "vtc,vac,atm")):
        cfg = replace(MINI_PATCHER, objectives=objectives, seed=seed)
        result = train_head(backbone, patcher_sources or sources, out / name, cfg, cache_dir=out / "cache", progress=progress,
                            decoded=mini.decoded)  # the clips the backbone was trained on, decoded once
        paths[name], seconds[name], rate[name] = result.checkpoint, result.seconds, result.steps_per_second
    return MiniStory(mini.checkpoint, paths["kp-vtc"], paths["kp-dvdm"], seconds, rate)


MODELS = ("mini", "blind:mini", "first-frame:mini", "last-frame:mini", "kp-perceiver-vtc-mini",
          "kp-perceiver-vtc-dvdm-mini", "blind:kp-perceiver-vtc-dvdm-mini", "first-frame:kp-perceiver-vtc-dvdm-mini",
          "last-frame:kp-perceiver-vtc-dvdm-mini")  # fmt: skip


TRAIN_SETS = ("ssv2-train", "ego4d-train")


def run_mini_claim(seed: int, out: Path, size: str = "default", eval_set: str = "ssv2-val", progress: bool = True,
                   train_on: tuple[str, ...] = TRAIN_SETS) -> dict:  # fmt: skip
    """Generate, build probes, train the story (the backbone on both train splits, the patchers on `train_on`),
    evaluate every model and control on `eval_set`, check the claims."""
    from actionbench.datasets.mini import generate_mini
    from actionbench.demo import mini_probe_sets
    from actionbench.runner import evaluate

    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    t = time.perf_counter()
    if not (out / "mini" / "README.txt").is_file():
        generate_mini(out / "mini", seed=seed, size=size)
    sets = mini_probe_sets(out / "mini", out / "probes")
    timings["data+probes"] = time.perf_counter() - t
    t = time.perf_counter()
    story = train_mini_story([sets[name] for name in TRAIN_SETS], out / "models", seed=seed, progress=progress,
                             patcher_sources=[sets[name] for name in train_on])  # fmt: skip
    timings["training"] = time.perf_counter() - t
    checkpoints = {"mini": story.backbone, "kp-perceiver-vtc-mini": story.kp_vtc, "kp-perceiver-vtc-dvdm-mini": story.kp_dvdm}
    probes, videos = sets[eval_set]
    runs, predictions = {}, {}
    t = time.perf_counter()
    for name in MODELS:
        ckpt = checkpoints[name.split(":")[-1]]
        runs[name], predictions[name] = evaluate(name, probes=[probes], videos=[videos],
                                                             model_args={"checkpoint": str(ckpt)}, cache=False)  # fmt: skip
    timings["evaluation"] = time.perf_counter() - t
    claims = check_claims(runs, predictions, seed=seed)
    families = {name: family_accuracy(runs[name]) for name in MODELS if "kp-perceiver" in name}
    table = {name: {task: round(cell["accuracy"], 1) for task, cell in next(iter(r["results"].values())).items()}
             for name, r in runs.items()}  # fmt: skip
    return {"seed": seed, "eval_set": eval_set, "patchers_train_on": list(train_on), "accuracy": table, "timings_s": timings,
            "steps_per_second": story.steps_per_second, "families": families,
            "claims": [c.__dict__ for c in claims], "all_ok": all(c.ok for c in claims)}  # fmt: skip


def family_accuracy(results: dict) -> dict[str, dict[str, float]]:
    """Accuracy (%) per mini scene family and task, from an evaluation's per-template / per-verb breakdown (both
    directions of a family together): which actions a model has learned."""
    from actionbench.datasets.mini import EGO4D_PAIRS, SSV2_PAIRS

    family_of = {name: family for family, *names in SSV2_PAIRS + EGO4D_PAIRS for name in names}
    right: dict[str, dict[str, list[float]]] = {}
    for breakdown in results["breakdowns"].values():
        for group, tasks in breakdown.items():
            for task, cell in tasks.items():
                tally = right.setdefault(family_of.get(group, group), {}).setdefault(task, [0.0, 0])
                tally[0] += cell["accuracy"] * cell["n"] / 100
                tally[1] += cell["n"]
    return {f: {t: round(100 * c / n, 1) for t, (c, n) in sorted(tasks.items())} for f, tasks in sorted(right.items())}


# ------------------------------------------------------------------------------------ the claims ("Done when")


@dataclass
class Claim:
    what: str
    ok: bool
    detail: str


def _cell(results: dict, task: str) -> dict:
    (dataset_results,) = results["results"].values()  # one probe set per evaluation
    return dataset_results[task]


def check_claims(runs: dict[str, dict], predictions: dict[str, object], seed: int = 0) -> list[Claim]:
    """The issue's claims on one probe set; `runs[name]` = results of `actionbench.evaluate`, keyed by model name
    (`mini`, `blind:mini`, ..., `kp-perceiver-vtc-mini`, `kp-perceiver-vtc-dvdm-mini`, and its controls)."""
    from actionbench.metrics import paired_bootstrap

    claims = []
    aa, vr, orr = "action_antonym", "video_reversal", "object_replacement"
    base = runs["mini"]
    lo, hi = _cell(base, aa)["ci95"]
    claims.append(Claim("mini backbone: VR temporally blind", bool(_cell(base, vr).get("temporally_blind")), ""))
    claims.append(Claim("mini backbone: AA 95% CI contains 50, within 40-60", lo <= 50 <= hi and lo >= 40 and hi <= 60,
                        f"AA {_cell(base, aa)['accuracy']:.1f} [{lo:.1f}, {hi:.1f}]"))  # fmt: skip
    lo = _cell(base, orr)["ci95"][0]
    claims.append(Claim("mini backbone: OR lower bound >= 85", lo >= 85, f"OR {_cell(base, orr)['accuracy']:.1f} (lb {lo:.1f})"))
    for model in ("mini", "kp-perceiver-vtc-dvdm-mini"):
        for control in ("blind", "first-frame", "last-frame"):
            name = f"{control}:{model}"
            if name not in runs:
                continue
            for task in (aa, vr):
                c = _cell(runs[name], task)
                lo, hi = c["ci95"]
                claims.append(Claim(f"{name}: {task} 95% CI contains 50", lo <= 50 <= hi, f"{c['accuracy']:.1f} [{lo:.1f}, {hi:.1f}]"))
    dvdm = runs["kp-perceiver-vtc-dvdm-mini"]
    for task in (aa, vr):
        c = _cell(dvdm, task)
        claims.append(Claim(f"KP-Perceiver [VTC+DVDM]: {task} lower bound >= 80", c["ci95"][0] >= 80,
                            f"{c['accuracy']:.1f} [{c['ci95'][0]:.1f}, {c['ci95'][1]:.1f}]"))  # fmt: skip
    pa = predictions["kp-perceiver-vtc-dvdm-mini"]
    pb = predictions["kp-perceiver-vtc-mini"]
    rows_a = pa[pa.task == vr].to_dict("records")
    rows_b = pb[pb.task == vr].to_dict("records")
    cmp = paired_bootstrap(rows_a, rows_b, seed=seed)
    claims.append(Claim("VR: KP-Perceiver [VTC+DVDM] above [VTC] (paired bootstrap, 95%)", cmp["ci95"][0] > 0,
                        f"diff {cmp['diff']:+.1f} pp [{cmp['ci95'][0]:+.1f}, {cmp['ci95'][1]:+.1f}], p={cmp['p']:.3g}"))  # fmt: skip
    return claims
