"""The runner: plan the suite, decode and encode each view once, cache, shard, score, decide.

1. Plan. Across every probe set given, each unique clip (video identity + time window) is one decode unit.
   It is encoded forward once, and reversed once only when a Video Reversal probe needs it and the model is
   not order-invariant (a declared `order_invariant` is checked on a few clips first). Every unique text is
   encoded once. AA, VR and OR share those embeddings.
2. Encode. Units are decoded in a DataLoader worker pool (in a fixed order), frames batched to the model
   (AMP on CUDA only), outputs checked (shape, NaN) and committed to the embedding cache batch by batch; a
   rerun after a crash encodes only what is not committed.
3. Shard. Under torch.distributed each process takes the units and texts whose stable hash falls to its rank,
   then every process gathers all embeddings, so the result does not depend on the number of processes.
4. Score. Similarities are computed in float32 per probe, decided under the tie policy by `metrics.decide`,
   summarised by `metrics.summarize`, and (rank 0) written as a result bundle.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import types
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actionbench import PROTOCOL_VERSION, __version__
from actionbench.cache import EmbeddingCache, default_cache_dir
from actionbench.ids import stable_hash, unit_interval
from actionbench.models.protocol import ModelError
from actionbench.models.registry import create_model, model_kind
from actionbench.probes.schema import Clip, Probe, ProbeSet
from actionbench.video import FrameSpec, decoder_name, read_frames, to_model_input, video_identity

VR = "video_reversal"
ORDER_CHECK_CLIPS = 3  # clips on which a declared order_invariant is verified
SIMILARITY_CHUNK = 512  # videos per similarity call when scoring
SUBSET_RULE = "the N probes with the smallest actionbench.ids.unit_interval('subset', probe_id)"


class MissingVideosError(ValueError):
    """Some probes could not be scored because their video is missing or unreadable (the run is partial)."""


# ------------------------------------------------------------------------------------------------- plan


@dataclass
class Unit:
    """One decode unit: a video file and a time window, shared by every clip and probe that uses it."""

    key: str
    path: Path
    start: float | None
    end: float | None
    clips: list[Clip] = field(default_factory=list)
    needs_reversed: bool = False
    error: str | None = None  # set when the video is missing or cannot be decoded

    @property
    def forward_key(self) -> str:
        return stable_hash(self.key, "forward")

    @property
    def reversed_key(self) -> str:
        return stable_hash(self.key, "reversed")

    def label(self) -> str:
        return self.clips[0].clip_id if self.clips else str(self.path)


@dataclass
class Item:
    """A probe to score, with where it came from."""

    probe: Probe
    clip: Clip
    unit: Unit


@dataclass
class Plan:
    probesets: list[ProbeSet]
    roots: list[Path]
    items: list[Item]  # sorted by probe_id
    units: dict[str, Unit]  # by key, sorted
    texts: list[str]  # sorted, unique
    subset: dict[str, Any] | None


def text_key(text: str) -> str:
    return stable_hash("text", text)


def pair_key(view_key: str, text: str) -> str:
    return stable_hash(view_key, text_key(text))


def pair_roots(probesets: Sequence[ProbeSet], videos: Sequence[str | Path]) -> list[Path]:
    """One videos root per probe set: the same root for all, or one each in the same order."""
    if not videos:
        raise ValueError("give a videos root (--videos DIR)")
    if len(videos) == 1:
        return [Path(videos[0])] * len(probesets)
    if len(videos) != len(probesets):
        raise ValueError(
            f"{len(probesets)} probe sets but {len(videos)} videos roots: give one root for all, or one per probe set"
        )
    return [Path(v) for v in videos]


def plan_suite(
    probesets: Sequence[ProbeSet], roots: Sequence[Path], limit: int | None = None
) -> Plan:
    """Every probe with its clip and decode unit; the unique units and texts; the subset rule if limited."""
    for root in roots:
        if not root.is_dir():
            raise ValueError(f"videos root {root} is not a folder")
    items: list[Item] = []
    seen: dict[str, str] = {}
    units: dict[str, Unit] = {}
    for ps, root in zip(probesets, roots, strict=True):
        clips = ps.clip_index()
        for probe in ps.probes:
            if probe.probe_id in seen:
                raise ValueError(
                    f"probe {probe.probe_id} is in probe sets {seen[probe.probe_id]} and {ps.probeset_id} "
                    "(a probe set given twice?)"
                )
            seen[probe.probe_id] = ps.probeset_id
            clip = clips[probe.clip_id]
            path = root / clip.video
            identity = video_identity(path)
            if identity is None:
                key = stable_hash("missing-video", str(path), clip.start, clip.end)
            else:
                key = stable_hash("video", *identity, clip.start, clip.end)
            unit = units.get(key)
            if unit is None:
                unit = units[key] = Unit(key, path, clip.start, clip.end)
                if identity is None:
                    unit.error = f"{path}: video file not found"
            if clip not in unit.clips:
                unit.clips.append(clip)
            items.append(Item(probe, clip, unit))
    subset = None
    if limit is not None:
        if limit < 1:
            raise ValueError(f"--limit must be at least 1, got {limit}")
        # The same N probes for every model: ranked by a hash of the probe id, never by file order.
        ranked = sorted(items, key=lambda it: (unit_interval("subset", it.probe.probe_id), it.probe.probe_id))
        items = ranked[:limit]
        subset = {"limit": int(limit), "rule": SUBSET_RULE}
    items.sort(key=lambda it: it.probe.probe_id)
    used = {it.unit.key for it in items}
    units = {k: units[k] for k in sorted(used)}
    for it in items:
        if it.probe.task == VR:
            it.unit.needs_reversed = True
    texts = sorted({t for it in items for t in (it.probe.text, it.probe.foil_text) if t is not None})
    return Plan(list(probesets), list(roots), items, units, texts, subset)


# ----------------------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class _DecodeJob:
    path: str
    start: float | None
    end: float | None


class _DecodeDataset(torch.utils.data.Dataset):
    """Decoded, resized, normalised frames of each job; a failure is returned as a message, not raised."""

    def __init__(self, jobs: list[_DecodeJob], spec: FrameSpec, preprocess: Any | None) -> None:
        self.jobs = jobs
        self.spec = spec
        self.preprocess = preprocess  # None: decode only (a model scored by probe id needs no frames)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        job = self.jobs[i]
        try:
            frames, decoder = read_frames(job.path, self.spec, job.start, job.end)
            if frames.shape[0] != self.spec.num_frames:
                raise ValueError(f"{job.path}: {frames.shape[0]} frames decoded, {self.spec.num_frames} expected")
            if self.preprocess is None:
                return {"i": i, "frames": torch.empty(0), "decoder": decoder, "error": None}
            pre = self.preprocess
            x = to_model_input(frames, tuple(pre.size), tuple(pre.mean), tuple(pre.std))
            return {"i": i, "frames": x, "decoder": decoder, "error": None}
        except Exception as e:  # listed in the bundle with its probes; never silently dropped
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            if str(job.path) not in message:
                message = f"{job.path}: {type(e).__name__}: {message}"
            return {"i": i, "frames": None, "decoder": None, "error": message}


def _as_list(batch: list[Any]) -> list[Any]:
    return batch


def decode_stream(
    jobs: list[_DecodeJob], spec: FrameSpec, preprocess: Any | None, *, workers: int, batch_size: int, pin: bool = False
) -> Iterator[dict[str, Any]]:
    """Decoded jobs in job order, `workers` processes decoding ahead of the model."""
    if not jobs:
        return
    # Small hand-over batches: workers stay busy while at most a few clips per worker wait in memory (the
    # Encoder re-batches views to the model's batch size).
    loader = torch.utils.data.DataLoader(
        _DecodeDataset(jobs, spec, preprocess),
        batch_size=max(1, min(batch_size, 4)),
        shuffle=False,
        num_workers=max(0, workers),
        collate_fn=_as_list,
        pin_memory=pin,
        prefetch_factor=2 if workers > 0 else None,
    )
    for batch in loader:
        yield from batch


# --------------------------------------------------------------------------------------- distributed


@dataclass
class Runtime:
    """Where this process runs: rank, world size, device, precision."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp_dtype: torch.dtype | None = None
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def gather(self, obj: Any) -> list[Any]:
        """Every process's `obj`, in rank order."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def start_runtime(device: str = "auto", amp: str = "auto") -> Runtime:
    """Join torch.distributed when launched by torchrun (WORLD_SIZE > 1); pick the device and AMP dtype."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available here")
        if dev.index is None:
            dev = torch.device("cuda", local_rank if world > 1 else torch.cuda.current_device())
        torch.cuda.set_device(dev)
    if amp not in ("auto", "off", "bf16", "fp16"):
        raise ValueError(f"--amp {amp!r}: choose auto, off, bf16 or fp16")
    amp_dtype = None
    if dev.type == "cuda" and amp != "off":
        if amp == "fp16" or (amp == "auto" and not torch.cuda.is_bf16_supported()):
            amp_dtype = torch.float16
        else:
            amp_dtype = torch.bfloat16
    elif dev.type != "cuda" and amp in ("bf16", "fp16"):
        raise ValueError(f"--amp {amp}: mixed precision runs on CUDA only (device is {dev})")
    owns = False
    if world > 1:
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but torch.distributed is not available")
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
            owns = True
        rank, world = dist.get_rank(), dist.get_world_size()
    return Runtime(rank, world, dev, amp_dtype, owns)


def _shard_of(key: str, world: int) -> int:
    return int(key[:12], 16) % world


# ------------------------------------------------------------------------------------------ encoding


def _labels(units: Sequence[Unit]) -> str:
    names = [u.label() for u in units[:3]]
    return ", ".join(names) + (f" and {len(units) - 3} more" if len(units) > 3 else "")


def _checked(out: Any, n: int, model: Any, what: str, where: str) -> torch.Tensor:
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
                 plan_texts: dict[str, list[str]]) -> None:
        self.model = model
        self.kind = kind
        self.cache = cache
        self.rt = rt
        self.batch_size = max(1, batch_size)
        self.pair = kind == "dual" and callable(getattr(model, "encode_videos_and_reversed", None))
        self.plan_texts = plan_texts  # view key -> texts a cross-encoder scores it against
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
            parts.append(_checked(self.model.encode_videos(x), len(frames), self.model, "encode_videos", where))
            for j in single:
                keys += list(j.keys)
                notes += [j.decoder] * len(j.keys)
        if both:
            x = torch.stack([j.frames for j in both]).to(self.rt.device, non_blocking=True)
            out = self.model.encode_videos_and_reversed(x)
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ModelError(f"model {self.model.name}: encode_videos_and_reversed must return "
                                 f"(forward, reversed) ({where})")
            fwd = _checked(out[0], len(both), self.model, "encode_videos_and_reversed", where)
            rev = _checked(out[1], len(both), self.model, "encode_videos_and_reversed", where)
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
                texts = self.plan_texts[key]
                out = self.model.score(frames[None].to(self.rt.device, non_blocking=True), texts)
                out = _checked(out, 1, self.model, "score", where)
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
    todo = [t for t in texts if text_key(t) not in cache and _shard_of(text_key(t), rt.world) == rt.rank]
    task = progress.add_task(f"{getattr(model, 'name', 'model')}: texts", total=len(todo)) if progress else None
    shape = None
    for b, start in enumerate(range(0, len(todo), batch_size), 1):
        chunk = todo[start : start + batch_size]
        with torch.inference_mode(), rt.autocast():
            out = model.encode_texts(chunk)
        where = f"text batch {b}: {chunk[0]!r}" + (f" and {len(chunk) - 1} more" if len(chunk) > 1 else "")
        out = _checked(out, len(chunk), model, "encode_texts", where)
        if shape is not None and tuple(out.shape[1:]) != shape:
            raise ModelError(f"model {model.name}: text embeddings change shape between batches ({where})")
        shape = tuple(out.shape[1:])
        cache.commit("text", [text_key(t) for t in chunk], out)
        if progress:
            progress.advance(task, len(chunk))


# ---------------------------------------------------------------------------------- order invariance


def check_order_invariance(model: Any, kind: str, plan: Plan, spec: FrameSpec, rt: Runtime,
                           cache: EmbeddingCache) -> dict[str, Any]:
    """Verify a declared `order_invariant` on a few clips: forward and reversed outputs must agree."""
    note = cache.read_note("order_check")
    if note is not None and note.get("passed"):
        return note
    name = getattr(model, "name", type(model).__name__)
    tol = 1e-4 if rt.amp_dtype is None else 1e-2
    checked: list[str] = []
    dataset = _DecodeDataset([], spec, model.preprocess)
    for unit in plan.units.values():
        if len(checked) >= ORDER_CHECK_CLIPS:
            break
        if unit.error is not None:
            continue
        dataset.jobs = [_DecodeJob(str(unit.path), unit.start, unit.end)]
        got = dataset[0]
        if got["frames"] is None:
            continue
        x = got["frames"][None].to(rt.device)
        with torch.inference_mode(), rt.autocast():
            if kind == "dual":
                a = model.encode_videos(x)
                b = model.encode_videos(torch.flip(x, dims=[1]))
            else:
                text = [unit.clips[0].text]
                a, b = model.score(x, text), model.score(torch.flip(x, dims=[1]), text)
        where = f"order-invariance check on clip {unit.label()}"
        a = _checked(a, 1, model, "the forward pass", where)
        b = _checked(b, 1, model, "the reversed pass", where)
        # Relative to the output's size, so the check means the same for unit vectors, logits or latents.
        diff = float((a - b).norm() / max(float(a.norm()), float(b.norm()), 1e-6))
        if diff > tol:
            raise ModelError(
                f"model {name} declares order_invariant=True, but reversing the frames of clip {unit.label()} "
                f"changes its output (relative difference {diff:.3g}); fix the declaration or the model"
            )
        checked.append(unit.label())
    note = {"passed": bool(checked), "clips": checked}
    if checked:
        cache.write_note("order_check", note)
    return note


# --------------------------------------------------------------------------------------------- scoring


def _f32(x: float) -> float:
    return float(np.float32(x))


def _scores_dual(model: Any, plan: Plan, store: dict[str, torch.Tensor], blind: bool,
                 rt: Runtime) -> dict[str, tuple[float, float]]:
    """(s_true, s_foil) per probe id from the video and text embeddings, in float32."""
    pairs: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {}
    for it in plan.items:
        if it.unit.error is not None:
            continue
        p, u = it.probe, it.unit
        true = (u.forward_key, text_key(p.text))
        if p.task == VR:
            foil = true if blind else (u.reversed_key, text_key(p.text))
        else:
            foil = (u.forward_key, text_key(p.foil_text))
        pairs[p.probe_id] = (true, foil)
    by_view: dict[str, set[str]] = defaultdict(set)
    for true, foil in pairs.values():
        for v, t in (true, foil):
            by_view[v].add(t)
    sims: dict[tuple[str, str], float] = {}
    views = sorted(by_view)
    name = getattr(model, "name", type(model).__name__)
    for start in range(0, len(views), SIMILARITY_CHUNK):
        chunk = views[start : start + SIMILARITY_CHUNK]
        tkeys = sorted(set().union(*(by_view[v] for v in chunk)))
        try:
            v = torch.stack([store[k] for k in chunk]).to(rt.device)
            t = torch.stack([store[k] for k in tkeys]).to(rt.device)
        except RuntimeError as e:
            raise ModelError(f"model {name}: embeddings of different shapes cannot be compared ({e})") from None
        with torch.inference_mode():
            s = model.similarity(v.float(), t.float())
        s = _checked(s, len(chunk), model, "similarity", f"scoring videos {start + 1}-{start + len(chunk)}")
        if tuple(s.shape) != (len(chunk), len(tkeys)):
            raise ModelError(f"model {name}: similarity returned shape {tuple(s.shape)} for "
                             f"{len(chunk)} videos x {len(tkeys)} texts")
        col = {k: j for j, k in enumerate(tkeys)}
        for i, vk in enumerate(chunk):
            for tk in by_view[vk]:
                sims[(vk, tk)] = float(s[i, col[tk]])
    return {pid: (sims[true], sims[foil]) for pid, (true, foil) in pairs.items()}


def _scores_cross(plan: Plan, store: dict[str, torch.Tensor], blind: bool) -> dict[str, tuple[float, float]]:
    out = {}
    for it in plan.items:
        if it.unit.error is not None:
            continue
        p, u = it.probe, it.unit
        s_true = float(store[pair_key(u.forward_key, p.text)])
        if p.task == VR:
            s_foil = s_true if blind else float(store[pair_key(u.reversed_key, p.text)])
        else:
            s_foil = float(store[pair_key(u.forward_key, p.foil_text)])
        out[p.probe_id] = (s_true, s_foil)
    return out


def _scores_by_probe(model: Any, plan: Plan) -> dict[str, tuple[float, float]]:
    live = [it for it in plan.items if it.unit.error is None]
    if not live:
        return {}
    s = _checked(model.score_probes([it.probe for it in live]), len(live), model, "score_probes", "all probes")
    if tuple(s.shape) != (len(live), 2):
        raise ModelError(f"model {model.name}: score_probes returned shape {tuple(s.shape)}, not ({len(live)}, 2)")
    return {it.probe.probe_id: (float(s[i, 0]), float(s[i, 1])) for i, it in enumerate(live)}


# ---------------------------------------------------------------------------------------- the runner


def _git_hash() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _weights_dtype(model: Any) -> str:
    for module in _modules(model):
        for p in module.parameters():
            return str(p.dtype).replace("torch.", "")
    return "float32"


def _set_eval(model: Any) -> None:
    """Dropout off: a model in training mode would give different scores on every pass."""
    for module in _modules(model):
        module.eval()


def _modules(model: Any) -> list[torch.nn.Module]:
    if isinstance(model, torch.nn.Module):
        return [model]
    found = [v for v in vars(model).values() if isinstance(v, torch.nn.Module)] if hasattr(model, "__dict__") else []
    inner = getattr(model, "inner", None)
    return found + (_modules(inner) if inner is not None else [])


def parameters_digest(model: Any) -> str | None:
    """A digest of every parameter and buffer (shape, dtype, sum, sum of squares), computed where they live.

    Not cryptographic, but any retraining changes it: a model whose weights are not hashed (weights_hash None:
    random init, or a factory that does not say what it loaded) cannot reuse another model's cache entries.
    """
    parts = []
    for i, module in enumerate(_modules(model)):
        with torch.no_grad():
            for name, t in [*module.named_parameters(), *module.named_buffers()]:
                x = t.detach().double()
                # Rounded: summation order (device, kernel) must not change the digest.
                parts.append((i, name, list(t.shape), str(t.dtype), f"{float(x.sum()):.12g}",
                              f"{float((x * x).sum()):.12g}"))
    return stable_hash(parts) if parts else None


def _fingerprint(model: Any) -> dict[str, Any]:
    weights_hash = getattr(model, "weights_hash", None)
    return {
        "name": getattr(model, "name", type(model).__name__),
        "args": {k: str(v) for k, v in sorted((getattr(model, "args", {}) or {}).items())},
        "weights_hash": weights_hash,
        "parameters": parameters_digest(model) if weights_hash is None else None,
        "version": getattr(model, "version", None),
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
    }


def _progress(enabled: bool):
    if not enabled:
        return contextlib.nullcontext(None)
    from actionbench.progress import progress_bar

    return progress_bar()


@dataclass
class Scoring:
    """What the runner knows about the model it scores."""

    model: Any
    kind: str  # dual | cross
    by_probe: bool  # scores from probe ids alone (chance): decode, but call no encoder
    declared: bool  # declares order_invariant
    blind: bool = False  # declared and verified: VR is "temporally blind", no reversed pass
    view_texts: dict[str, list[str]] = field(default_factory=dict)  # view key -> texts it is scored against

    def wanted(self, unit: Unit, store: EmbeddingCache) -> tuple[str, ...]:
        """The views of a unit still to encode (every view for a model scored by probe id)."""
        keys = [unit.forward_key] + ([unit.reversed_key] if unit.needs_reversed and not self.blind else [])
        if self.by_probe:
            return tuple(keys)
        if self.kind == "dual":
            return tuple(k for k in keys if k not in store)
        return tuple(k for k in keys if any(pair_key(k, t) not in store for t in self.view_texts[k]))

    def plan_texts(self, plan: Plan) -> None:
        view_texts: dict[str, set[str]] = defaultdict(set)
        for it in plan.items:
            u, p = it.unit, it.probe
            view_texts[u.forward_key].update([p.text] if p.task == VR else [p.text, p.foil_text])
            if p.task == VR and not self.blind:
                view_texts[u.reversed_key].add(p.text)
        self.view_texts = {k: sorted(v) for k, v in view_texts.items()}


def _namespace(scoring: Scoring, fingerprint: dict[str, Any], spec: FrameSpec, rt: Runtime) -> dict[str, Any]:
    """Everything but the item that can change a cached output (the protocol's cache key)."""
    return {
        "model": fingerprint,
        "kind": scoring.kind,
        "frame_spec": spec.to_dict(),
        "decoder": decoder_name(),
        "preprocess": scoring.model.preprocess.to_dict(),
        "device_class": rt.device.type,
        "amp": None if rt.amp_dtype is None else str(rt.amp_dtype).replace("torch.", ""),
        "dtype": _weights_dtype(scoring.model),
        "protocol_version": PROTOCOL_VERSION,
    }


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
    shard = Shard([u for u in plan.units.values() if u.error is None and _shard_of(u.key, rt.world) == rt.rank])
    todo = [(u, keys) for u in shard.units if (keys := scoring.wanted(u, store))]
    encoder = Encoder(model, scoring.kind, store, rt, batch_size, scoring.view_texts)
    try:
        with _progress(progress and rt.is_main) as bar:
            if scoring.kind == "dual" and not scoring.by_probe:
                encode_texts(model, plan.texts, store, rt, 4 * batch_size, bar)
            task = bar.add_task(f"{getattr(model, 'name', 'model')}: videos", total=len(todo)) if bar else None
            jobs = [_DecodeJob(str(u.path), u.start, u.end) for u, _ in todo]
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
        mine = {pair_key(v, t) for v in mine if v in scoring.view_texts for t in scoring.view_texts[v]}
    mine.update(text_key(t) for t in plan.texts if _shard_of(text_key(t), rt.world) == rt.rank)
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
            first = u.forward_key if scoring.kind == "dual" else pair_key(u.forward_key,
                                                                         scoring.view_texts[u.forward_key][0])
            decoded[u.key] = extras.get(first) or "unknown"
    return entries, decoded


def predictions_for(plan: Plan, scores: dict[str, tuple[float, float]], ties: str,
                    logit_scale: float | None) -> list[dict[str, Any]]:
    """Prediction rows (float32 scores, decision, tie) for every probe that has scores, by probe id."""
    from actionbench import metrics

    rows = []
    for it in plan.items:
        if it.probe.probe_id not in scores:
            continue
        s_true, s_foil = (_f32(s) for s in scores[it.probe.probe_id])
        credit, tie = metrics.decide(s_true, s_foil, it.probe.task, ties, it.probe.probe_id, logit_scale)
        rows.append({
            "probe_id": it.probe.probe_id,
            "task": it.probe.task,
            "dataset": it.clip.dataset,
            "clip_id": it.clip.clip_id,
            "source_video": it.clip.source_video,
            "group": it.clip.action,
            "s_true": s_true,
            "s_foil": s_foil,
            "decision": credit,
            "tie": bool(tie),
        })
    return rows


def evaluate(
    model: Any,
    probes: Sequence[str | Path | ProbeSet],
    videos: Sequence[str | Path],
    *,
    model_args: dict[str, Any] | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 16,
    workers: int = 0,
    ties: str = "half",
    limit: int | None = None,
    allow_missing: bool = False,
    cache: str | Path | bool | None = None,
    amp: str = "auto",
    frame_spec: FrameSpec | None = None,
    bootstrap_seed: int = 0,
    bootstrap_size: int = 1000,
    progress: bool = False,
    command: str | list[str] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Score a model on probe sets; returns (results dict, pandas DataFrame of predictions).

    `model` is a registry name (created with `model_args`) or a model object. `videos` holds one root for
    every probe set, or one per probe set. `out` (optional) receives the result bundle (rank 0 writes it).
    `cache`: a folder, None for the default (`$ACTIONBENCH_CACHE` or `~/.cache/actionbench/embeddings`), or
    False for none. Missing or unreadable videos make the run partial; with `allow_missing=False` that raises
    MissingVideosError after the bundle is written.
    """
    import pandas as pd

    from actionbench import bundle, metrics

    spec = frame_spec or FrameSpec()
    if ties not in metrics.POLICIES:
        raise ValueError(f"--ties {ties!r}: choose from {', '.join(metrics.POLICIES)}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    if workers < 0:
        raise ValueError(f"--workers must be 0 or more, got {workers}")
    if not probes:
        raise ValueError("give at least one probe set (--probes DIR)")
    probesets = [p if isinstance(p, ProbeSet) else ProbeSet.load(p) for p in probes]
    roots = pair_roots(probesets, videos)
    plan = plan_suite(probesets, roots, limit)

    rt = start_runtime(device, amp)
    try:
        if isinstance(model, str):
            model = create_model(model, model_args)
        elif model_args:
            raise ValueError("model_args apply to a model given by name, not to a model object")
        fingerprint = _fingerprint(model)  # before moving: the same on every device and process
        if callable(getattr(model, "to", None)):
            model = model.to(rt.device) or model
        _set_eval(model)
        scoring = Scoring(model, model_kind(model), callable(getattr(model, "score_probes", None)),
                          bool(getattr(model, "order_invariant", False)))
        namespace = _namespace(scoring, fingerprint, spec, rt)
        if cache is False or scoring.by_probe:
            cache_root = None  # the chance line has nothing worth keeping
        else:
            cache_root = default_cache_dir() if cache is None or cache is True else Path(cache)
        store = EmbeddingCache(cache_root, namespace, rank=rt.rank)
        if scoring.declared and not scoring.by_probe:
            note = check_order_invariance(model, scoring.kind, plan, spec, rt, store)
            scoring.blind = bool(note["passed"]) or not any(u.error is None for u in plan.units.values())
        scoring.plan_texts(plan)

        shard = encode_shard(scoring, plan, store, rt, spec, batch_size=batch_size, workers=workers,
                             progress=progress)
        entries, decoded = gather_shards(scoring, plan, store, rt, shard)
        if scoring.by_probe:
            scores = _scores_by_probe(model, plan)
        elif scoring.kind == "dual":
            scores = _scores_dual(model, plan, entries, scoring.blind, rt)
        else:
            scores = _scores_cross(plan, entries, scoring.blind)
        logit_scale = getattr(model, "logit_scale", None)
        logit_scale = None if logit_scale is None else float(logit_scale)
        predictions = predictions_for(plan, scores, ties, logit_scale)
        summary = metrics.summarize(predictions, policy=ties, bootstrap_seed=bootstrap_seed,
                                    bootstrap_size=bootstrap_size, temporally_blind=scoring.blind)
        missing = _missing(plan)
        _count_missing(summary["results"], plan)
        results = {
            "schema_version": bundle.SCHEMA_VERSION,
            "protocol_version": PROTOCOL_VERSION,
            "model": {
                "name": getattr(model, "name", type(model).__name__),
                "args": dict(getattr(model, "args", {}) or {}),
                "weights_hash": getattr(model, "weights_hash", None),
                "preprocess": model.preprocess.to_dict(),
                "order_invariant": scoring.declared,
                "kind": scoring.kind,
                "logit_scale": logit_scale,
            },
            "frame_spec": spec.to_dict(),
            "decoder": decoder_name(),
            "ties": ties,
            "device": rt.device.type,
            "dtype": namespace["amp"] or namespace["dtype"],  # the compute dtype
            "amp": rt.amp_dtype is not None,
            "probesets": [
                {
                    "probeset_id": ps.probeset_id,
                    "dataset": ps.manifest.dataset,
                    "split": ps.manifest.split,
                    "videos_root": str(root),
                    "n_probes": sum(v for k, v in ps.manifest.counts.items() if k != "clips"),
                }
                for ps, root in zip(plan.probesets, plan.roots, strict=True)
            ],
            **summary,
            "bootstrap": {"seed": int(bootstrap_seed), "size": int(bootstrap_size)},
            "subset": plan.subset,
            "partial": bool(missing),
            "missing": missing,
            "command": command if command is not None else "actionbench.evaluate (Python API)",
            "harness_version": __version__,
            "git_hash": _git_hash(),
            "temporally_blind": scoring.blind,
            "run": {  # how this run went; not part of the scores
                "world_size": rt.world,
                "decoders_used": dict(sorted(Counter(decoded.values()).items())),
                "order_check": "passed" if scoring.blind else ("not declared" if not scoring.declared
                                                               else "no clip to check"),
                "cache": None if store.dir is None else str(store.dir),
                "cache_ignored": store.ignored,
            },
        }
        if out is not None and rt.is_main:
            bundle.write_bundle(out, results, predictions)
        frame = pd.DataFrame(predictions, columns=["probe_id", "task", "dataset", "clip_id", "source_video",
                                                   "group", "s_true", "s_foil", "decision", "tie"])
        if missing and not allow_missing:
            first = missing[0]
            raise MissingVideosError(
                f"{sum(len(m['probe_ids']) for m in missing)} probes of {len(missing)} clips could not be scored "
                f"(first: clip {first['clip_id']}: {first['error']}); the run is partial"
                + (f", bundle written to {out}" if out is not None else "")
                + " (allow with --allow-missing)"
            )
        return results, frame
    finally:
        rt.close()


def _missing(plan: Plan) -> list[dict[str, Any]]:
    """Every clip whose probes could not be scored, with the error and its probe ids."""
    by_clip: dict[tuple[str, str], dict[str, Any]] = {}
    for it in plan.items:
        if it.unit.error is None:
            continue
        entry = by_clip.setdefault((it.clip.dataset, it.clip.clip_id), {
            "clip_id": it.clip.clip_id, "video": it.clip.video, "error": it.unit.error, "probe_ids": []})
        entry["probe_ids"].append(it.probe.probe_id)
    return [by_clip[k] for k in sorted(by_clip)]


def _count_missing(results: dict[str, Any], plan: Plan) -> None:
    """Fill each dataset x task cell's `missing`; a cell with every probe missing is still reported."""
    counts: Counter[tuple[str, str]] = Counter(
        (it.clip.dataset, it.probe.task) for it in plan.items if it.unit.error is not None)
    for (dataset, task), n in sorted(counts.items()):
        cell = results.setdefault(dataset, {}).get(task)
        if cell is None:
            cell = results[dataset][task] = {"n": 0, "accuracy": 0.0, "ci95": [0.0, 100.0],
                                            "ci_method": "wilson", "tie_rate": 0.0, "missing": 0}
        cell["missing"] = n


def command_line() -> str:
    """The command that is running, as a user would type it."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("__main__.py", "actionbench")):
        argv[0] = "actionbench"
    return shlex.join(argv)


class _CallableModule(types.ModuleType):
    """`actionbench.evaluate(...)` is the public entry point, but once this submodule is imported the package
    attribute `actionbench.evaluate` is the module itself; making the module callable keeps both working."""

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
