"""The chance line: a model whose two scores per probe are drawn from an RNG seeded by the probe id.

It is a cross-encoder with the optional `score_probes` hook: the harness decodes every clip as for any
other model (so a missing video removes the same probes from every row) but never calls `score`.
"""

from __future__ import annotations

import numpy as np
import torch

from actionbench.ids import seeded_rng
from actionbench.models.protocol import CrossEncoder, ModelSpec


class ChanceModel(CrossEncoder):
    """Scores uniform in [0, 1) seeded by (seed, probe id): 50% on every task, ties practically never."""

    name = "chance"
    order_invariant = False  # its VR decisions are coin flips, reported as scores, not as "temporally blind"
    version = "1"

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def score_probes(self, probes: list) -> torch.Tensor:
        """`[P, 2]`: (s_true, s_foil) per probe, from its id alone."""
        rows = np.array([seeded_rng("chance", self.seed, p.probe_id).random(2) for p in probes]).reshape(-1, 2)
        return torch.from_numpy(rows).float()

    def score(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        # Not used by the harness (it calls score_probes); a constant keeps the protocol complete.
        return torch.zeros(frames.shape[0], len(texts))


def chance(seed: int = 0) -> ChanceModel:
    """Scores drawn from an RNG seeded by the probe id (the 50% line)."""
    return ChanceModel(seed=seed)


SPECS = [
    ModelSpec(
        name="chance",
        factory=chance,
        description="random scores seeded by the probe id: the 50% line (args: seed)",
        weights="none",
    )
]
