"""What identifies a model run: the model's fingerprint, the embedding cache namespace, the git hash."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import torch

from actionbench.ids import stable_hash
from actionbench.models.registry import source_digest
from actionbench.runner.plan import Scoring
from actionbench.runner.runtime import Runtime
from actionbench.version import PROTOCOL_VERSION
from actionbench.video import FrameSpec, decoder_name


def git_hash() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def weights_dtype(model: Any) -> str:
    for module in modules_of(model):
        for p in module.parameters():
            return str(p.dtype).replace("torch.", "")
    return "float32"


def set_eval(model: Any) -> None:
    """Dropout off: a model in training mode would give different scores on every pass."""
    for module in modules_of(model):
        module.eval()


def modules_of(model: Any) -> list[torch.nn.Module]:
    if isinstance(model, torch.nn.Module):
        return [model]
    found = [v for v in vars(model).values() if isinstance(v, torch.nn.Module)] if hasattr(model, "__dict__") else []
    inner = getattr(model, "inner", None)
    return found + (modules_of(inner) if inner is not None else [])


def parameters_digest(model: Any) -> str | None:
    """A digest of every parameter and buffer (shape, dtype, sum, sum of squares), computed where they live.

    Not cryptographic, but any retraining changes it: a model whose weights are not hashed (weights_hash None:
    random init, or a factory that does not say what it loaded) cannot reuse another model's cache entries.
    """
    parts = []
    for i, module in enumerate(modules_of(model)):
        with torch.no_grad():
            for name, t in [*module.named_parameters(), *module.named_buffers()]:
                x = t.detach().double()
                # Rounded: summation order (device, kernel) must not change the digest.
                parts.append((i, name, list(t.shape), str(t.dtype), f"{float(x.sum()):.12g}",
                              f"{float((x * x).sum()):.12g}"))
    return stable_hash(parts) if parts else None


def fingerprint(model: Any) -> dict[str, Any]:
    weights_hash = getattr(model, "weights_hash", None)
    return {
        "name": getattr(model, "name", type(model).__name__),
        "args": {k: str(v) for k, v in sorted((getattr(model, "args", {}) or {}).items())},
        "weights_hash": weights_hash,
        "parameters": parameters_digest(model) if weights_hash is None else None,
        "version": getattr(model, "version", None),
        # A plugin's code (file or entry point): a changed module never reuses what the old code cached.
        "source": source_digest(model),
        "factory_source": getattr(model, "factory_source", None),
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
    }


def cache_namespace(scoring: Scoring, fingerprint: dict[str, Any], spec: FrameSpec, rt: Runtime) -> dict[str, Any]:
    """Everything but the item that can change a cached output (the protocol's cache key)."""
    return {
        "model": fingerprint,
        "kind": scoring.kind,
        "frame_spec": spec.to_dict(),
        "decoder": decoder_name(),
        "preprocess": scoring.model.preprocess.to_dict(),
        "device_class": rt.device.type,
        "amp": None if rt.amp_dtype is None else str(rt.amp_dtype).replace("torch.", ""),
        "dtype": weights_dtype(scoring.model),
        "protocol_version": PROTOCOL_VERSION,
    }
