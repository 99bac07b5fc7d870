"""Read a dataset's annotations with the reader its file calls for (SSv2 json, EgoClip, Ego4D narration.json)."""

from __future__ import annotations

from pathlib import Path


def read_annotations(dataset: str, annotations: Path, split: str, alpha: float = 4.9):
    """Dispatch to the right reader; returns (ReadResult, reader parameters)."""
    if dataset == "ssv2":
        from actionbench.datasets.ssv2 import read_ssv2

        return read_ssv2(annotations, split), {}
    from actionbench.datasets import ego4d

    if annotations.name.endswith("narration.json") or annotations.suffix == ".json":
        return ego4d.read_narrations(annotations, split=split, alpha=alpha), {"reader": "narration.json", "alpha": alpha}
    return ego4d.read_egoclip(annotations, split=split), {"reader": "egoclip"}
