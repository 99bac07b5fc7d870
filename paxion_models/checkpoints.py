"""Checkpoints: only trainable weights plus the config that rebuilds the model, in one safetensors file.

The config travels as JSON in the safetensors metadata, so a checkpoint is self-describing and is loaded
without unpickling anything. Loading is strict: a missing, unexpected or mis-shaped tensor is an error (the
original loaded with `strict=False` and silently ran mis-sized configs with random weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from actionbench.files import sha256_file

FORMAT = "paxion-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, not ours, or does not fit the model it is loaded into."""


def file_hash(path: str | Path) -> str:
    """sha256 of the file's bytes (16 hex digits): the weights hash recorded with results."""
    return sha256_file(path, 16)


def save_checkpoint(path: str | Path, weights: dict[str, torch.Tensor], config: dict[str, Any]) -> Path:
    """Write tensors (made contiguous, on CPU) and the JSON config; atomically (a killed run leaves the old file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "config": json.dumps(config, sort_keys=True)})
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(weights, config); the config gains `weights_hash` (the file's hash)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            weights = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for non-safetensors files
        raise CheckpointError(f"{path}: not a safetensors checkpoint ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a paxion_models checkpoint (format={meta.get('format')!r})")
    config = json.loads(meta["config"])
    config["weights_hash"] = file_hash(path)
    return weights, config


def load_strict(module: torch.nn.Module, weights: dict[str, torch.Tensor], source: str | Path) -> None:
    """load_state_dict(strict=True) with a one-line error naming the file and the first bad key."""
    own = module.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{source}: missing keys {missing[:3]}, unexpected keys {unexpected[:3]}")
    for k, v in weights.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{source}: {k} has shape {tuple(v.shape)}, the model expects {tuple(own[k].shape)}")
    module.load_state_dict(weights, strict=True)
