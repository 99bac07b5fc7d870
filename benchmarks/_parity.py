"""Shared parts of the parity scripts: inputs, weight perturbation, comparison, the report.

A parity script builds the ORIGINAL implementation (MikeWangWZHL/Paxion, checked out outside this project and
never copied into it) with random weights, writes them in the official checkpoint layout, loads that file through
the original loader and through ours, and reports max |difference| per output (fp32, eval mode).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

TEXTS = ["a person opens the door", "someone is pouring water into a glass slowly"]
GOAL = 1e-4


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--original", type=Path, required=True, help="the original repo's src/ folder (scratch checkout)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/paxion-parity"), help="where the random checkpoint is written")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON here too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    args.work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(args.original))
    return args


def perturb(model: torch.nn.Module, std: float = 0.02, seed: int = 0) -> None:
    """Add N(0, std²) noise to every parameter: zero-initialised parts (InternVideo's extractor) must matter."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * std)


def frames(batch: int, count: int, size: int = 224, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, count, 3, size, size, generator=torch.Generator().manual_seed(seed))


class Report:
    """max |ours - original| per output, with the magnitude of the original for scale."""

    def __init__(self, backbone: str):
        self.backbone = backbone
        self.rows: dict[str, dict[str, float]] = {}
        self.notes: list[str] = []
        self.start = time.time()

    def compare(self, name: str, ours: torch.Tensor, original: torch.Tensor) -> None:
        ours, original = ours.detach().float(), original.detach().float()
        if ours.shape != original.shape:
            raise SystemExit(f"{self.backbone} {name}: shape {tuple(ours.shape)} vs original {tuple(original.shape)}")
        self.rows[name] = {
            "shape": list(ours.shape),
            "max_abs_diff": float((ours - original).abs().max()),
            "max_abs_original": float(original.abs().max()),
        }

    def finish(self, out: Path | None) -> None:
        ok = all(r["max_abs_diff"] < GOAL for r in self.rows.values())
        result = {"backbone": self.backbone, "goal": GOAL, "pass": ok, "outputs": self.rows, "notes": self.notes,
                  "seconds": round(time.time() - self.start, 1)}  # fmt: skip
        text = json.dumps(result, indent=1)
        print(text)
        if out is not None:
            out.write_text(text)
        if not ok:
            raise SystemExit(1)
