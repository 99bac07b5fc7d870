"""This process's share of the suite: decode and encode its units, then gather every process's outputs.

Under torch.distributed each process takes the units and texts whose stable hash falls to its rank, then
every process gathers all embeddings, so the result does not depend on the number of processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from actionbench.cache import EmbeddingCache
from actionbench.models.protocol import ModelError
from actionbench.runner.decode import DecodeJob, decode_stream
from actionbench.runner.encode import Encoder, _Job, encode_texts
from actionbench.runner.plan import Plan, Scoring, Unit, text_key
from actionbench.runner.runtime import Runtime, progress_bar, shard_of
from actionbench.video import FrameSpec


@dataclass
class Shard:
    """What one process decoded and encoded."""

    units: list[Unit]
    errors: dict[str, str] = field(default_factory=dict)  # unit key -> why it could not be decoded
    decoded: dict[str, str] = field(default_factory=dict)  # unit key -> decoder (decord, or PyAV where it could not)
    failure: str | None = None


def encode_shard(scoring: Scoring, plan: Plan, store: EmbeddingCache, rt: Runtime, spec: FrameSpec, *,
                 batch_size: int, workers: int, progress: bool) -> Shard:
    """Decode this process's units and encode (and commit) whatever the cache does not hold yet."""
    model = scoring.model
    shard = Shard([u for u in plan.units.values() if u.error is None and shard_of(u.key, rt.world) == rt.rank])
    todo = [(u, keys) for u in shard.units if (keys := scoring.wanted(u, store))]
    encoder = Encoder(model, scoring.kind, store, rt, batch_size, scoring.view_texts, scoring.paired_reversal,
                      scoring.view_options)
    try:
        with progress_bar(progress and rt.is_main) as bar:
            if scoring.kind == "dual" and not scoring.by_probe:
                encode_texts(model, plan.texts, store, rt, 4 * batch_size, bar)
            task = bar.add_task(f"{getattr(model, 'name', 'model')}: videos", total=len(todo)) if bar else None
            jobs = [DecodeJob(str(u.path), u.start, u.end, u.video) for u, _ in todo]
            preprocess = None if scoring.by_probe else model.preprocess
            for got in decode_stream(jobs, spec, preprocess, workers=workers, batch_size=batch_size):
                unit, keys = todo[got["i"]]
                if got["frames"] is None:
                    shard.errors[unit.key] = got["error"]
                else:
                    shard.decoded[unit.key] = got["decoder"]
                    if not scoring.by_probe:
                        encoder.add(_Job(unit, got["frames"], got["decoder"], keys))
                if bar:
                    bar.advance(task)
            encoder.flush()
    except (ModelError, ValueError, RuntimeError) as e:
        if rt.world == 1:
            raise
        shard.failure = f"rank {rt.rank}: {e}"  # raised on every rank after the gather, so none hangs
    return shard


def gather_shards(scoring: Scoring, plan: Plan, store: EmbeddingCache, rt: Runtime, shard: Shard
                  ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All outputs and every unit's decoder, from every process; marks the units that failed to decode."""
    mine: set[str] = set()
    for u in shard.units:
        mine.update([u.forward_key, u.reversed_key])
    if scoring.kind == "cross":
        mine = {k for v in mine for k in scoring.view_keys(v)}
    mine.update(text_key(t) for t in plan.texts if shard_of(text_key(t), rt.world) == rt.rank)
    # Each process sends its whole shard (cached or new), so none relies on a cache folder shared with others.
    send = rt.world > 1
    payload = {
        "failure": shard.failure,
        "errors": shard.errors,
        "decoded": shard.decoded,
        "entries": {k: store.get(k) for k in mine if k in store} if send else {},
        "extra": {k: store.extra(k) for k in mine if k in store} if send else {},
    }
    gathered = rt.gather(payload)
    failures = [g["failure"] for g in gathered if g["failure"]]
    if failures:
        raise ModelError(failures[0])
    entries = store.items()
    extras = {k: store.extra(k) for k in entries if store.extra(k) is not None}
    decoded: dict[str, str] = {}
    for g in gathered:
        entries.update(g["entries"])
        extras.update(g["extra"])
        decoded.update(g["decoded"])
        for key, message in g["errors"].items():
            plan.units[key].error = message
    for u in plan.units.values():
        if u.error is None and u.key not in decoded:  # encoded in an earlier run: its cache entry says how
            first = u.forward_key if scoring.kind == "dual" else scoring.view_keys(u.forward_key)[0]
            decoded[u.key] = extras.get(first) or "unknown"
    return entries, decoded
