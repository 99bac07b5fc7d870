"""What `hf:` and `vlm:` share: loading a Hugging Face checkpoint (hub id or local folder) safely, naming its
weights, picking its dtype, and recording its processor's configuration.

Remote code (a checkpoint's own Python files) runs only when the user passes `trust_remote_code=true`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from actionbench.files import sha256_file
from actionbench.ids import stable_hash
from actionbench.models.protocol import ModelError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
DTYPES = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def require_transformers(prefix: str) -> Any:
    try:
        import transformers
    except ImportError:
        raise ModelError(f"{prefix}: needs transformers (pip install 'actionbench[hf]')") from None
    return transformers


def pick_dtype(dtype: str, device_map: str | None) -> torch.dtype:
    """bf16 where the model will run on CUDA (a GPU here, or a device map), float32 on the CPU."""
    if dtype not in DTYPES:
        raise ModelError(f"dtype={dtype!r}: choose {', '.join(DTYPES)}")
    if DTYPES[dtype] is not None:
        return DTYPES[dtype]
    on_gpu = torch.cuda.is_available() and (device_map is None or device_map != "cpu")
    return torch.bfloat16 if on_gpu else torch.float32


def load_pretrained(loader: Any, source: str, prefix: str, **kwargs: Any) -> Any:
    """`loader.from_pretrained(source, ...)` with one-line errors that say what to do."""
    try:
        return loader.from_pretrained(source, **kwargs)
    except ValueError as e:
        text = str(e)
        if "trust_remote_code" in text or "custom code" in text:
            raise ModelError(f"{prefix}{source}: this checkpoint needs its own Python code; run it only if you trust "
                             "it, with --model-arg trust_remote_code=true") from None
        raise ModelError(f"{prefix}{source}: {text.splitlines()[0]}") from None
    except OSError as e:
        where = "folder" if Path(source).is_dir() else "hub id or folder"
        raise ModelError(f"{prefix}{source}: cannot load this {where} ({str(e).splitlines()[0]})") from None


def weights_hash(source: str, config: Any) -> str | None:
    """A name for the weights: sha256 over a local folder's weight files, or the hub commit the files came from."""
    folder = Path(source)
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
        if not files:
            return None
        return stable_hash([(path.name, sha256_file(path)) for path in files], length=64)
    commit = getattr(config, "_commit_hash", None)
    return f"hub:{source}@{commit}" if commit else None


def processor_record(processor: Any) -> dict[str, Any]:
    """The model's own preprocessing, as its processor config says (JSON-safe), with a hash of it."""
    record: dict[str, Any] = {"class": type(processor).__name__}
    for attr in ("image_processor", "video_processor"):
        part = getattr(processor, attr, None)
        if part is None or not callable(getattr(part, "to_json_string", None)):
            continue
        record[attr] = json.loads(part.to_json_string())
    if callable(getattr(processor, "to_json_string", None)) and len(record) == 1:
        record["config"] = json.loads(processor.to_json_string())
    record["hash"] = stable_hash(json.dumps(record, sort_keys=True, default=str), length=16)
    return record


def as_uint8(frames: torch.Tensor) -> torch.Tensor:
    """Frames in [0, 1] (the harness's output for mean 0, std 1) -> uint8, as a processor expects decoded video."""
    return frames.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).cpu()
