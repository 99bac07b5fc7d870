"""Encode decoded views and texts one model batch at a time, check every output, commit it to the cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from actionbench.cache import EmbeddingCache
from actionbench.models.protocol import ModelError
from actionbench.runner.plan import Unit, option_key, pair_key, text_key
from actionbench.runner.runtime import Runtime, shard_of


def _labels(units: Sequence[Unit]) -> str:
    names = [u.label() for u in units[:3]]
    return ", ".join(names) + (f" and {len(units) - 3} more" if len(units) > 3 else "")


def call(model: Any, what: str, fn: Any, *args: Any) -> Any:
    """Call one of the model's methods; whatever it raises (a plugin's KeyError, TypeError, AssertionError, ...)
    becomes a one-line ModelError that keeps the model's name and the method."""
    try:
        return fn(*args)
    except ModelError:
        raise
    except Exception as e:
        name = getattr(model, "name", type(model).__name__)
        detail = " ".join(str(e).split())[:300]
        raise ModelError(f"model {name}: {what} raised {type(e).__name__}" + (f": {detail}" if detail else "")
                         ) from e


def checked(out: Any, n: int, model: Any, what: str, where: str) -> torch.Tensor:
    """A model output with `n` rows and no NaN/inf, as float32 on the CPU; else a one-line ModelError."""
    name = getattr(model, "name", type(model).__name__)
    if not isinstance(out, torch.Tensor):
        raise ModelError(f"model {name}: {what} returned {type(out).__name__}, not a tensor ({where})")
    if out.ndim == 0 or out.shape[0] != n:
        raise ModelError(f"model {name}: {what} returned shape {tuple(out.shape)} for {n} inputs ({where})")
    out = out.detach().float().cpu()
    if not torch.isfinite(out).all():
        raise ModelError(f"model {name}: {what} returned NaN or inf ({where})")
    return out


@dataclass
class _Job:
    unit: Unit
    frames: torch.Tensor
    decoder: str
    keys: tuple[str, ...]  # forward and/or reversed view keys, in that order

    @property
    def n_views(self) -> int:
        return len(self.keys)


class Encoder:
    """Turns decoded units into committed cache entries, one model batch at a time."""

    def __init__(self, model: Any, kind: str, cache: EmbeddingCache, rt: Runtime, batch_size: int,
                 plan_texts: dict[str, list[str]], paired_reversal: bool = False,
                 plan_options: dict[str, list[tuple[str, str]]] | None = None) -> None:
        self.model = model
        self.kind = kind
        self.cache = cache
        self.rt = rt
        self.batch_size = max(1, batch_size)
        self.pair = kind == "dual" and paired_reversal
        self.plan_texts = plan_texts  # view key -> texts a cross-encoder scores it against
        self.plan_options = plan_options or {}  # view key -> (text, foil) pairs a score_options model compares
        self.batches = 0
        self.shape: tuple[int, ...] | None = None
        self.pending: list[_Job] = []

    def add(self, job: _Job) -> None:
        if len(job.keys) > 1 and not self.pair:
            # Views of one clip may fall into different batches: every model batch is full.
            for key in job.keys:
                self.add(_Job(job.unit, job.frames, job.decoder, (key,)))
            return
        if self.pending and sum(j.n_views for j in self.pending) + job.n_views > self.batch_size:
            self.flush()
        self.pending.append(job)
        if sum(j.n_views for j in self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        jobs, self.pending = self.pending, []
        if not jobs:
            return
        self.batches += 1
        where = f"batch {self.batches}: clips {_labels([j.unit for j in jobs])}"
        with torch.inference_mode(), self.rt.autocast():
            if self.kind == "dual":
                keys, rows, notes = self._dual(jobs, where)
            else:
                keys, rows, notes = self._cross(jobs, where)
        self.cache.commit("video" if self.kind == "dual" else "pair", keys, rows, notes)

    def _views(self, job: _Job) -> list[torch.Tensor]:
        fwd = job.frames
        out = []
        for key in job.keys:
            out.append(torch.flip(fwd, dims=[0]) if key == job.unit.reversed_key else fwd)
        return out

    def _dual(self, jobs: list[_Job], where: str) -> tuple[list[str], torch.Tensor, list[Any]]:
        keys: list[str] = []
        parts: list[torch.Tensor] = []
        notes: list[Any] = []
        both = [j for j in jobs if self.pair and len(j.keys) == 2]
        single = [j for j in jobs if not (self.pair and len(j.keys) == 2)]
        if single:
            frames = [v for j in single for v in self._views(j)]
            x = torch.stack(frames).to(self.rt.device, non_blocking=True)
            out = call(self.model, "encode_videos", self.model.encode_videos, x)
            parts.append(checked(out, len(frames), self.model, "encode_videos", where))
            for j in single:
                keys += list(j.keys)
                notes += [j.decoder] * len(j.keys)
        if both:
            x = torch.stack([j.frames for j in both]).to(self.rt.device, non_blocking=True)
            out = call(self.model, "encode_videos_and_reversed", self.model.encode_videos_and_reversed, x)
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ModelError(f"model {self.model.name}: encode_videos_and_reversed must return "
                                 f"(forward, reversed) ({where})")
            fwd = checked(out[0], len(both), self.model, "encode_videos_and_reversed", where)
            rev = checked(out[1], len(both), self.model, "encode_videos_and_reversed", where)
            parts += [fwd, rev]
            keys += [j.unit.forward_key for j in both] + [j.unit.reversed_key for j in both]
            notes += [j.decoder for j in both] * 2
        shapes = {tuple(p.shape[1:]) for p in parts}
        if self.shape is not None:
            shapes.add(self.shape)
        if len(shapes) > 1:
            raise ModelError(f"model {self.model.name}: video embeddings change shape between batches "
                             f"({', '.join(str(s) for s in sorted(shapes))}; {where})")
        self.shape = shapes.pop()
        return keys, torch.cat(parts), notes

    def _cross(self, jobs: list[_Job], where: str) -> tuple[list[str], torch.Tensor, list[Any]]:
        keys: list[str] = []
        scores: list[torch.Tensor] = []
        notes: list[Any] = []
        # A cross-encoder's cost is per pair: each view is scored against its own texts only.
        for j in jobs:
            for key, frames in zip(j.keys, self._views(j), strict=True):
                pairs = self.plan_options.get(key, [])
                if pairs:
                    out = call(self.model, "score_options", self.model.score_options,
                               frames[None].to(self.rt.device, non_blocking=True), pairs)
                    out = checked(out, len(pairs), self.model, "score_options", where)
                    if tuple(out.shape) != (len(pairs), 2):
                        raise ModelError(f"model {self.model.name}: score_options returned shape {tuple(out.shape)} "
                                         f"for {len(pairs)} pairs ({where})")
                    keys += [k for a, b in pairs for k in (option_key(key, a, b), option_key(key, b, a))]
                    scores.append(out.reshape(-1))
                    notes += [j.decoder] * (2 * len(pairs))
                texts = self.plan_texts.get(key, [])
                if not texts:
                    continue
                out = call(self.model, "score", self.model.score, frames[None].to(self.rt.device, non_blocking=True),
                           texts)
                out = checked(out, 1, self.model, "score", where)
                if tuple(out.shape) != (1, len(texts)):
                    raise ModelError(f"model {self.model.name}: score returned shape {tuple(out.shape)} for 1 video "
                                     f"x {len(texts)} texts ({where})")
                keys += [pair_key(key, t) for t in texts]
                scores.append(out[0])
                notes += [j.decoder] * len(texts)
        return keys, torch.cat(scores), notes


def encode_texts(model: Any, texts: list[str], cache: EmbeddingCache, rt: Runtime, batch_size: int,
                 progress: Any = None) -> None:
    """Encode (and commit) every text of this rank's shard that is not cached yet."""
    todo = [t for t in texts if text_key(t) not in cache and shard_of(text_key(t), rt.world) == rt.rank]
    task = progress.add_task(f"{getattr(model, 'name', 'model')}: texts", total=len(todo)) if progress else None
    shape = None
    for b, start in enumerate(range(0, len(todo), batch_size), 1):
        chunk = todo[start : start + batch_size]
        with torch.inference_mode(), rt.autocast():
            out = call(model, "encode_texts", model.encode_texts, chunk)
        where = f"text batch {b}: {chunk[0]!r}" + (f" and {len(chunk) - 1} more" if len(chunk) > 1 else "")
        out = checked(out, len(chunk), model, "encode_texts", where)
        if shape is not None and tuple(out.shape[1:]) != shape:
            raise ModelError(f"model {model.name}: text embeddings change shape between batches ({where})")
        shape = tuple(out.shape[1:])
        cache.commit("text", [text_key(t) for t in chunk], out)
        if progress:
            progress.advance(task, len(chunk))
