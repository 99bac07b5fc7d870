"""Verify a model's declared `order_invariant` on a few clips before reversed passes are skipped."""

from __future__ import annotations

from typing import Any

import torch

from actionbench.cache import EmbeddingCache
from actionbench.models.protocol import ModelError
from actionbench.runner.decode import DecodeDataset, DecodeJob
from actionbench.runner.encode import call, checked
from actionbench.runner.plan import Plan
from actionbench.runner.runtime import Runtime
from actionbench.video import FrameSpec

ORDER_CHECK_CLIPS = 3  # clips on which a declared order_invariant is verified


def check_order_invariance(model: Any, kind: str, plan: Plan, spec: FrameSpec, rt: Runtime,
                           cache: EmbeddingCache) -> dict[str, Any]:
    """Verify a declared `order_invariant` on a few clips: forward and reversed outputs must agree."""
    note = cache.read_note("order_check")
    if note is not None and note.get("passed"):
        return note
    name = getattr(model, "name", type(model).__name__)
    tol = 1e-4 if rt.amp_dtype is None else 1e-2
    verified: list[str] = []
    dataset = DecodeDataset([], spec, model.preprocess)
    for unit in plan.units.values():
        if len(verified) >= ORDER_CHECK_CLIPS:
            break
        if unit.error is not None:
            continue
        dataset.jobs = [DecodeJob(str(unit.path), unit.start, unit.end, unit.video)]
        got = dataset[0]
        if got["frames"] is None:
            continue
        x = got["frames"][None].to(rt.device)
        with torch.inference_mode(), rt.autocast():
            if kind == "dual":
                a = call(model, "encode_videos", model.encode_videos, x)
                b = call(model, "encode_videos", model.encode_videos, torch.flip(x, dims=[1]))
            else:
                text = [unit.clips[0].text]
                a = call(model, "score", model.score, x, text)
                b = call(model, "score", model.score, torch.flip(x, dims=[1]), text)
        where = f"order-invariance check on clip {unit.label()}"
        a = checked(a, 1, model, "the forward pass", where)
        b = checked(b, 1, model, "the reversed pass", where)
        # Relative to the output's size, so the check means the same for unit vectors, logits or latents.
        diff = float((a - b).norm() / max(float(a.norm()), float(b.norm()), 1e-6))
        if diff > tol:
            raise ModelError(
                f"model {name} declares order_invariant=True, but reversing the frames of clip {unit.label()} "
                f"changes its output (relative difference {diff:.3g}); fix the declaration or the model"
            )
        verified.append(unit.label())
    note = {"passed": bool(verified), "clips": verified}
    if verified:
        cache.write_note("order_check", note)
    return note
