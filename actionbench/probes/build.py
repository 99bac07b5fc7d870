"""Build a ProbeSet from clips: Action Antonym, Video Reversal and Object Replacement, per the protocol.

- AA keeps the clips whose action has an antonym; VR uses exactly the same clips (as the paper did: actions
  without an antonym are often time-symmetric); OR uses every clip with a replaceable object.
- Any random choice is drawn from an RNG seeded by `seed_key = H(dataset, clip_id, task, lexicon_version)` (and
  the user's `--seed`), so probes do not depend on input order, process or worker count.
- Every clip that yields no probe for a task is counted under a named reason in the manifest.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from actionbench.ids import seeded_rng
from actionbench.lexicon import Lexicon
from actionbench.probes.schema import Clip, Probe, ProbeSet, probe_id_for, seed_key
from actionbench.tasks import AA, OR, VR
from actionbench.tasks import PROBE_TASKS as TASKS


def _antonym_rule(dataset: str) -> Callable[[Clip, Lexicon], Any]:
    if dataset == "ssv2":
        from actionbench.probes.ssv2 import antonym_edit
    elif dataset == "ego4d":
        from actionbench.probes.ego4d import antonym_edit
    else:
        raise ValueError(f"no Action Antonym rule for dataset {dataset!r}")
    return antonym_edit


def build_probes(
    clips: Iterable[Clip],
    *,
    dataset: str,
    split: str,
    lexicon: Lexicon | None = None,
    seed: int = 0,
    parameters: dict[str, Any] | None = None,
    skipped: Counter[str] | None = None,
    object_pool: str | None = None,
    workers: int = 1,
) -> ProbeSet:
    """All three probe types for the clips of one dataset split.

    `object_pool` is the object vocabulary's pool for replacements (default: the dataset's own). `workers` > 1
    builds in that many processes; the result is the same bytes (every choice is seeded per clip, and the probe
    set is sorted when it is made).
    """
    lexicon = lexicon or Lexicon.load()
    dropped: dict[str, Counter[str]] = {t: Counter() for t in TASKS}
    for reason, n in (skipped or Counter()).items():  # records the reader could not turn into clips
        for t in TASKS:
            dropped[t][f"reader: {reason}"] += n
    clips = list(clips)
    if workers > 1 and len(clips) >= 2 * MIN_CHUNK:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        global _FORKED  # forked workers inherit the clips: only the (small) job tuples are pickled
        n = min(workers, len(clips) // MIN_CHUNK)
        _FORKED = (clips, dataset, lexicon, seed, object_pool)
        collecting = gc.isenabled()
        # No collection while the workers (forked with it off) build and the parent unpickles 100,000s of probes:
        # the collector would rescan the large heap again and again (and copy it, page by page, in the workers).
        gc.disable()
        try:
            with ProcessPoolExecutor(n, mp_context=mp.get_context("fork")) as pool:
                parts = list(pool.map(_build_forked, [(i, n) for i in range(n)]))
        finally:
            _FORKED = None
            if collecting:
                gc.enable()
    else:
        parts = [_build_part(clips, dataset, lexicon, seed, object_pool)]
    probes: list[Probe] = []
    used: set[str] = set()
    for part_probes, part_used, part_dropped in parts:
        probes += part_probes
        used |= part_used
        for t in TASKS:
            dropped[t].update(part_dropped[t])
    params = {"seed": seed, "object_pool": object_pool or dataset, **(parameters or {})}
    return ProbeSet.create(
        [c for c in clips if c.clip_id in used], probes, lexicon_version=lexicon.version, dataset=dataset, split=split,
        parameters=params, dropped=dropped,
    )


MIN_CHUNK = 5000  # fewer clips than this per process are not worth a process


_FORKED: tuple[list[Clip], str, Lexicon, int, str | None] | None = None


def _build_forked(part: tuple[int, int]):
    clips, *rest = _FORKED
    i, n = part
    return _build_part(clips[i::n], *rest)


def _build_part(clips: list[Clip], dataset: str, lexicon: Lexicon, seed: int, object_pool: str | None):
    """The probes of some clips: (probes, ids of the clips used, dropped counts per task)."""
    from actionbench.probes.objects import object_edit

    antonym_edit = _antonym_rule(dataset)
    probes: list[Probe] = []
    used: set[str] = set()
    dropped: dict[str, Counter[str]] = {t: Counter() for t in TASKS}
    for clip in clips:
        aa = antonym_edit(clip, lexicon)
        if isinstance(aa, str):
            dropped[AA][aa] += 1
            dropped[VR][aa] += 1
        else:
            foil, edit = aa
            key = seed_key(dataset, clip.clip_id, AA, lexicon.version)
            probes.append(Probe(probe_id_for(key, edit), AA, clip.clip_id, clip.text, foil, edit))
            key = seed_key(dataset, clip.clip_id, VR, lexicon.version)
            probes.append(Probe(probe_id_for(key, None), VR, clip.clip_id, clip.text, None, None))
            used.add(clip.clip_id)
        key = seed_key(dataset, clip.clip_id, OR, lexicon.version)
        rep = object_edit(clip, lexicon, seeded_rng(key, seed), pool=object_pool)
        if isinstance(rep, str):
            dropped[OR][rep] += 1
        else:
            foil, edit = rep
            probes.append(Probe(probe_id_for(key, {"seed": seed, **edit}), OR, clip.clip_id, clip.text, foil, edit))
            used.add(clip.clip_id)
    return probes, used, dropped
