"""The demo pipeline: mini data -> probes -> (evaluation) -> (Paxion training) -> leaderboard.

Stages that need optional parts run only when those are installed: the Paxion training commands come from the
`actionbench.commands` entry-point group (installed with `paxion_models`).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from rich.console import Console


def _paxion_installed() -> bool:
    return any(ep.name == "train" for ep in entry_points(group="actionbench.commands"))


def build_mini_probes(out: Path, seed: int, size: str, console: Console) -> dict[str, Path]:
    """Generate the mini benchmark and build its probe sets; returns {name: probe-set folder}."""
    from actionbench.cli.probes import counts_table, read_annotations
    from actionbench.datasets.mini import generate_mini
    from actionbench.probes.build import build_probes

    data = out / "mini"
    with console.status("Generating the mini benchmark ..."):
        generate_mini(data, seed=seed, size=size)
    sets: dict[str, Path] = {}
    rows = []
    for dataset, annotations in (("ssv2", data / "ssv2"), ("ego4d", data / "ego4d" / "egoclip.jsonl")):
        for split in ("train", "val"):
            result, params = read_annotations(dataset, annotations, split)
            ps = build_probes(result.clips, dataset=dataset, split=split, parameters={**params, "benchmark": "mini"},
                              skipped=result.skipped, object_pool="mini")
            folder = out / "probes" / f"{dataset}-{split}"
            ps.save(folder)
            sets[f"{dataset}-{split}"] = folder
            rows.append((f"mini {dataset} {split}", ps.manifest.counts))
    console.print(counts_table(rows, title="Mini benchmark probe sets"))
    return sets


def run_demo(out: Path, *, seed: int = 0, size: str = "default", console: Console) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    build_mini_probes(out, seed, size, console)
    if not _paxion_installed():
        console.print("paxion_models is not installed: skipping the training stages")
