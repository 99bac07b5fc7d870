"""Official backbone checkpoints: read without unpickling, check strictly, map 1:1 onto our modules.

The released InternVideo, CLIP-ViP and Singularity files are pickles. `convert_checkpoint` turns one into a
safetensors file once, and only when the caller opts in to unpickling (a pickle can run code). Everything else
reads safetensors, or a torch file through `torch.load(weights_only=True)`.

Strict means: after the documented prefix handling, the file's keys and shapes equal our module's keys and
shapes (which the tests check against the official key list), except a named allowlist per backbone. Anything
else is a one-line error listing the missing and unexpected keys. What the allowlist ignored or adapted is
returned in a `LoadReport`, never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from paxion_models.checkpoints import CheckpointError, file_hash

OFFICIAL_FORMAT = "official-backbone/1"
CONTAINERS = ("state_dict", "model")  # PyTorch-Lightning style (InternVideo), Singularity's trainer


class PickleRefused(CheckpointError):
    """A pickled checkpoint read without the explicit opt-in to unpickle it."""


@dataclass(frozen=True)
class Resize:
    """An allowlisted shape difference: the file's tensor is adapted to the module's shape by `adapt`."""

    reason: str
    adapt: Callable[[torch.Tensor, tuple[int, ...]], torch.Tensor]


@dataclass(frozen=True)
class OfficialLayout:
    """How one official file maps onto our module's state dict."""

    name: str
    container: str | None  # key of the pickled dict that holds the tensors (None: top level)
    prefix: str = ""  # file key = prefix + module key; keys without it belong to other modules of the trainer
    renames: tuple[tuple[str, str], ...] = ()  # (file substring, module substring), applied to keys with the prefix
    ignored: tuple[tuple[str, str], ...] = ()  # (regex on file keys, reason): allowlisted unexpected keys
    resized: dict[str, Resize] = field(default_factory=dict)  # module key -> allowlisted shape adaptation

    def module_key(self, file_key: str) -> str | None:
        """The module key a file key maps to; None for keys outside the prefix."""
        if not file_key.startswith(self.prefix):
            return None
        key = file_key[len(self.prefix) :]
        for old, new in self.renames:
            key = key.replace(old, new)
        return key

    def file_key(self, module_key: str) -> str:
        """Inverse of `module_key` (used to write fixtures in the official layout)."""
        key = module_key
        for old, new in self.renames:
            if new in key:
                key = key.replace(new, old, 1)
                break
        return self.prefix + key

    def ignore_reason(self, file_key: str) -> str | None:
        for pattern, reason in self.ignored:
            if re.search(pattern, file_key):
                return reason
        return None


@dataclass
class LoadReport:
    """What strict loading left out or adapted, by key, with the reason (allowlisted cases only)."""

    source: str
    loaded: int = 0
    outside_prefix: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    adapted: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{self.loaded} tensors loaded"]
        if self.outside_prefix:
            parts.append(f"{len(self.outside_prefix)} keys outside the model prefix skipped")
        if self.ignored:
            parts.append(f"{len(self.ignored)} allowlisted keys ignored")
        if self.adapted:
            parts.append("adapted: " + "; ".join(f"{k} ({v})" for k, v in self.adapted.items()))
        return f"{self.source}: " + ", ".join(parts)


def _short(keys: list[str], n: int = 4) -> str:
    shown = ", ".join(keys[:n])
    return f"{len(keys)} [{shown}{', ...' if len(keys) > n else ''}]"


def _unwrap(obj: object, source: Path) -> dict[str, torch.Tensor]:
    """The tensor dict inside a loaded torch file: top level, or under 'state_dict' / 'model'."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{source}: expected a dict of tensors, found {type(obj).__name__}")
    for name in CONTAINERS:
        inner = obj.get(name)
        if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            obj = inner
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{source}: no tensors found (top level, 'state_dict' or 'model')")
    return tensors


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a converted (safetensors) or weights-only torch file; never unpickles arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    with open(path, "rb") as f:
        head = f.read(8)
    is_zip_or_pickle = head.startswith(b"PK") or head[:1] == b"\x80"
    if not is_zip_or_pickle:
        try:
            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # safetensors raises its own error types
            raise CheckpointError(f"{path}: neither safetensors nor a torch file ({e})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise PickleRefused(
            f"{path}: this torch file holds more than tensors and is not unpickled by default; convert it once "
            f"with `actionbench convert-checkpoint {path} OUT.safetensors --allow-pickle` ({type(e).__name__})"
        ) from None
    return _unwrap(obj, path)


def convert_checkpoint(src: str | Path, dst: str | Path, allow_pickle: bool) -> Path:
    """Official pickle -> safetensors holding the same tensors under the same keys (container unwrapped).

    Unpickling can execute code, so it happens only with `allow_pickle=True`: use it on files you trust.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise CheckpointError(f"{src}: checkpoint not found")
    if not allow_pickle:
        raise PickleRefused(f"{src}: converting an official pickle needs the explicit opt-in allow_pickle=True (--allow-pickle)")
    try:
        obj = torch.load(src, map_location="cpu", weights_only=False)
    except Exception as e:
        raise CheckpointError(f"{src}: could not be unpickled ({type(e).__name__}: {e})") from None
    container = next((c for c in CONTAINERS if isinstance(obj, dict) and isinstance(obj.get(c), dict)), None)
    tensors = _unwrap(obj, src)
    # clone: safetensors refuses tensors that share storage (e.g. a tied MLM decoder)
    tensors = {k: v.detach().clone().contiguous() for k, v in tensors.items()}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(dst.suffix + ".tmp")
    meta = {"format": OFFICIAL_FORMAT, "source": src.name, "container": json.dumps(container), "source_sha256_16": file_hash(src)}
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(dst)
    return dst


def expected_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """Module key -> shape: what a strict load must find."""
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def official_shapes(module: nn.Module, layout: OfficialLayout) -> dict[str, tuple[int, ...]]:
    """File key -> shape for the keys our module owns (allowlisted extras and resizes not included)."""
    return {layout.file_key(k): s for k, s in expected_shapes(module).items()}


def match_official(
    weights: dict[str, torch.Tensor], module: nn.Module, layout: OfficialLayout, source: str | Path
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """File tensors -> the module's state dict, strictly; one-line `CheckpointError` on any other difference."""
    report = LoadReport(str(source))
    own = expected_shapes(module)
    mapped: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for file_key, tensor in weights.items():
        key = layout.module_key(file_key)
        if key is None:
            report.outside_prefix.append(file_key)
            continue
        if key in own:
            mapped[key] = tensor
            continue
        reason = layout.ignore_reason(file_key)
        if reason is not None:
            report.ignored[file_key] = reason
        else:
            unexpected.append(file_key)
    missing = sorted(layout.file_key(k) for k in set(own) - set(mapped))
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: not a {layout.name} checkpoint: missing keys {_short(missing)}, unexpected keys {_short(sorted(unexpected))}"
        )
    wrong = []
    for key, tensor in mapped.items():
        if tuple(tensor.shape) == own[key]:
            continue
        if key in layout.resized:
            rule = layout.resized[key]
            mapped[key] = rule.adapt(tensor, own[key])
            report.adapted[layout.file_key(key)] = f"{tuple(tensor.shape)} -> {own[key]}: {rule.reason}"
        else:
            wrong.append(f"{layout.file_key(key)} {tuple(tensor.shape)} (expected {own[key]})")
    if wrong:
        raise CheckpointError(f"{source}: {layout.name} shape mismatch: {_short(wrong, 3)}")
    report.loaded = len(mapped)
    return mapped, report


def load_official(module: nn.Module, path: str | Path, layout: OfficialLayout) -> LoadReport:
    """Read an official (or converted) file and load it strictly into `module`; returns what was allowlisted."""
    weights = read_tensors(path)
    mapped, report = match_official(weights, module, layout, path)
    own = module.state_dict()
    # cast to the module's dtypes: the official loaders copied into fp32 parameters whatever the file stored
    mapped = {k: v.to(own[k].dtype) for k, v in mapped.items()}
    module.load_state_dict(mapped, strict=True)
    return report


def from_official(model: nn.Module, checkpoint: str | Path, layout: OfficialLayout) -> nn.Module:
    """`model` with an official (or converted) checkpoint loaded strictly, its weights hash set, frozen: what
    every backbone's `from_official` does once it has built the model from its config."""
    from paxion_models.checkpoints import file_hash

    model.load_report = load_official(model, checkpoint, layout)
    model.weights_hash = file_hash(checkpoint)
    return model.freeze()


def to_official(module: nn.Module, layout: OfficialLayout, extra: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Our state dict written under the official file keys (plus `extra` file keys): for fixtures and parity."""
    out = {layout.file_key(k): v.detach() for k, v in module.state_dict().items()}  # no copy: full-size models are big
    out.update(extra or {})
    return out
