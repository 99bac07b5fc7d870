"""The demo pipeline: mini data -> probes -> evaluation -> (Paxion training) -> leaderboard.

Stages that need optional parts run only when those are installed: the Paxion training stages come from the
`actionbench.demo` entry-point group (installed with `paxion_models`); actionbench never imports paxion_models.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from rich.console import Console

DEMO_SETS = ("ssv2-val", "ego4d-val")  # a Table-1 row needs both datasets
CLIP_SUBSET = 160  # random-init ViT-B-32 on CPU: a deterministic subset keeps the demo within minutes


def _paxion_stages():
    """The training stages a plug-in package offers to the demo, or None."""
    for ep in entry_points(group="actionbench.demo"):
        try:
            return ep.load()
        except ImportError:
            return None
    return None


def build_mini_probes(out: Path, seed: int, size: str, console: Console) -> dict[str, tuple[Path, Path]]:
    """Generate the mini benchmark and build its probe sets; returns {name: (probe-set folder, videos root)}."""
    from actionbench.datasets.mini import generate_mini
    from actionbench.probes.schema import ProbeSet
    from actionbench.tables import counts_table

    with console.status("Generating the mini benchmark ..."):
        info = generate_mini(out / "mini", seed=seed, size=size)
    console.print(f"mini benchmark: {info}")
    sets = mini_probe_sets(out / "mini", out / "probes")
    rows = [(f"mini {name}", ProbeSet.load(folder).manifest.counts) for name, (folder, _) in sets.items()]
    console.print(counts_table(rows, title="Mini benchmark probe sets"))
    return sets


def mini_probe_sets(data: Path, out: Path) -> dict[str, tuple[Path, Path]]:
    """The mini benchmark's train and validation probe sets (built once; object foils from its own objects):
    {"ssv2-train" | "ssv2-val" | "ego4d-train" | "ego4d-val": (probe-set folder, videos root)}."""
    from actionbench.datasets.read import read_annotations
    from actionbench.probes.build import build_probes

    sets: dict[str, tuple[Path, Path]] = {}
    for dataset, source in (("ssv2", data / "ssv2"), ("ego4d", data / "ego4d" / "egoclip.jsonl")):
        for split in ("train", "val"):
            folder = out / f"{dataset}-{split}"
            if not (folder / "manifest.json").is_file():
                result, params = read_annotations(dataset, source, split)
                build_probes(result.clips, dataset=dataset, split=split, parameters={**params, "benchmark": "mini"},
                             skipped=result.skipped, object_pool="mini").save(folder)
            sets[f"{dataset}-{split}"] = (folder, data / dataset / "videos")
    return sets


def evaluate_rows(
    rows: list[tuple[str, Any, dict[str, Any], int | None]],
    sets: dict[str, tuple[Path, Path]],
    out: Path,
    console: Console,
) -> list[Path]:
    """Evaluate each (bundle name, model, model args, limit) on the demo's validation sets; returns bundle dirs."""
    from actionbench.runner import evaluate
    from actionbench.tables import results_table

    probes = [sets[name][0] for name in DEMO_SETS]
    videos = [sets[name][1] for name in DEMO_SETS]
    bundles = []
    for name, model, args, limit in rows:
        bundle = out / "runs" / name
        results, _ = evaluate(model, probes, videos, model_args=args, out=bundle, limit=limit, progress=True,
                              cache=out / "cache", command=f"actionbench demo ({name})")
        console.print(results_table(results))
        bundles.append(bundle)
    return bundles


def run_demo(out: Path, *, seed: int = 0, size: str = "default", console: Console) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sets = build_mini_probes(out, seed, size, console)

    console.rule("Built-in models and controls")
    clip_args = {"image_size": 64}  # the mini videos are 64x64: no point upsampling random weights to 224
    full = evaluate_rows([("chance", "chance", {}, None)], sets, out, console)
    evaluate_rows(
        [(f"{prefix}clip-vit-b-32", f"{prefix}clip:ViT-B-32", clip_args, CLIP_SUBSET)
         for prefix in ("", "first-frame:", "last-frame:", "blind:")],
        sets, out, console,
    )
    console.print(f"(random-init clip:ViT-B-32 rows use a {CLIP_SUBSET}-probe subset by probe-id hash; subsets stay "
                  "off the leaderboard)")

    stages = _paxion_stages()
    if stages is None:
        console.print("paxion_models is not installed: skipping the training stages")
    else:
        full += stages(out=out, sets=sets, seed=seed, console=console, evaluate_rows=evaluate_rows)

    from actionbench.leaderboard import ProbeSetIndex
    from actionbench.leaderboard.terminal import render_terminal

    console.rule("Leaderboard of the demo's runs")
    console.print(render_terminal(full, index=ProbeSetIndex.from_paths([folder for folder, _ in sets.values()])))
