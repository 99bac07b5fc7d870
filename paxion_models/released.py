"""Import the released Paxion Knowledge Patcher / Patch-and-Fuse checkpoints into our head layout.

A released `.pth` is the original trainer's full state (`ckpt['model']` holds every tensor of the wrapper,
the frozen backbone included, next to the optimizer and config). We keep only the trainable head and write a
`paxion-head` safetensors checkpoint that `paxion_models.heads.load_head` reads strictly. The key mapping is
data (`KEY_MAP`), read off the original code (`src/models.py`, `src/modeling_perceiver_xattn.py`):

| original (released file)                         | ours (Head state dict)                 |
|--------------------------------------------------|----------------------------------------|
| `vision_perceiver.latents` (older: `knowledge_perceiver.`) | `net.latents` / `net.patcher.latents` |
| `vision_perceiver.layers.{i}.0.norm_latents`     | `... .layers.{i}.0.norm_queries`        |
| `vision_perceiver.layers.{i}.0.{norm_media,to_q,to_kv,to_out}` | same names                 |
| `vision_perceiver.layers.{i}.1.{0,1,3}` (FeedForward) | same                               |
| `vision_perceiver.norm`                          | `... .norm`                              |
| `temporal_embedding` `[8, D_v]`                  | `... .temporal`                          |
| `knowledge_fuser.attn.norm_q` / `norm_kv`        | `net.attn.norm_queries` / `norm_media`   |
| `knowledge_fuser.attn.{to_q,to_kv,to_out}`, `knowledge_fuser.ff.{0,1,3}` | `net.attn.*`, `net.ff.*` |
| `alpha` (Side-Tuning)                            | `net.alpha`                              |
| `vision_adaptor.transformer_encoder.layers.0.X` (KP-Transformer) | `net.layer.X`            |
| `temp` (τ, a divisor)                            | `temperature.log_tau` = log τ            |

Skipped and counted: `vl_backbone.*` (the frozen backbone: load the official backbone file instead).
Refused with a clear error: a text Perceiver or text adaptor (no released config uses them), the gated and
`xattn_v2` fusers (unused by the paper). A fuser on CLIP-ViP or Singularity is our extension: the paper
released fusers for InternVideo only.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from paxion_models.backbones import TABLE
from paxion_models.checkpoints import CheckpointError, load_strict, save_checkpoint
from paxion_models.patcher import PerceiverConfig, TransformerConfig

PAPER_BACKBONES = {n: b.paper_dims for n, b in TABLE.items() if b.paper_dims}  # (D, D_v), from the backbone table

# (regex on the original key, replacement) - `{P}` is the patcher's prefix in our head
KEY_MAP: tuple[tuple[str, str], ...] = (
    (r"^(?:vision|knowledge)_perceiver\.layers\.(\d+)\.0\.norm_latents\.", r"{P}layers.\1.0.norm_queries."),
    (r"^(?:vision|knowledge)_perceiver\.", r"{P}"),
    (r"^temporal_embedding$", r"{P}temporal"),
    (r"^knowledge_fuser\.attn\.norm_q\.", r"net.attn.norm_queries."),
    (r"^knowledge_fuser\.attn\.norm_kv\.", r"net.attn.norm_media."),
    (r"^knowledge_fuser\.", r"net."),
    (r"^alpha$", r"net.alpha"),
    (r"^vision_adaptor\.transformer_encoder\.layers\.0\.", r"{P}layer."),
)
SKIPPED = (r"^vl_backbone\.",)
REFUSED = {
    r"^text_perceiver\.": "a text Perceiver (if_use_dual_perceiver), which no released config uses",
    r"^text_adaptor\.": "a KP-Transformer text adaptor (the non-simple baseline), which no released config uses",
    r"^knowledge_fuser\.(attn_gate|ff_gate)$": "the gated cross-attention fuser, unused by the paper",
    r"^vision_adaptor\.transformer_encoder\.layers\.[1-9]": "a KP-Transformer with more than one layer",
}


def read_released(path: str | Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a released checkpoint (`ckpt['model']`). Its config objects need unpickling: opt in."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        if not allow_pickle:
            raise CheckpointError(
                f"{path}: the released checkpoint holds pickled config objects; import it with --allow-pickle (trusted files only)"
            ) from None
        obj = torch.load(path, map_location="cpu", weights_only=False)
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no 'model' state dict inside")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def variant_of(state: dict[str, torch.Tensor], source: str | Path = "checkpoint") -> str:
    """perceiver | transformer | xattn | side-tuning, from which modules the state holds."""
    for pattern, what in REFUSED.items():
        if any(re.search(pattern, k) for k in state):
            raise CheckpointError(f"{source}: holds {what}; not importable")
    if any(k.startswith("knowledge_fuser.") for k in state):
        if "knowledge_fuser.attn.norm_kv.weight" in state and "knowledge_fuser.attn.to_q.weight" in state:
            q_in = state["knowledge_fuser.attn.to_q.weight"].shape[1]
            kv_in = state["knowledge_fuser.attn.to_kv.weight"].shape[1]
            if q_in != kv_in:
                raise CheckpointError(f"{source}: an xattn_v2 fuser (keys/values from patch tokens), unused by the paper; not importable")
        return "xattn"
    if "alpha" in state:
        return "side-tuning"
    if any(k.startswith("vision_adaptor.") for k in state):
        return "transformer"
    if any(re.match(r"^(vision|knowledge)_perceiver\.", k) for k in state):
        return "perceiver"
    raise CheckpointError(f"{source}: no Knowledge Patcher found (no vision_perceiver.*, vision_adaptor.* or knowledge_fuser.*)")


def map_keys(state: dict[str, torch.Tensor], variant: str, source: str | Path = "checkpoint") -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Original keys -> our head's keys (τ excluded); returns (weights, counts of skipped keys by reason)."""
    prefix = "net.patcher." if variant in ("xattn", "side-tuning") else "net."
    out: dict[str, torch.Tensor] = {}
    skipped = {"frozen backbone (vl_backbone.*)": 0}
    unknown = []
    for key, tensor in state.items():
        if key == "temp":
            continue
        if any(re.search(p, key) for p in SKIPPED):
            skipped["frozen backbone (vl_backbone.*)"] += 1
            continue
        for pattern, repl in KEY_MAP:
            if re.search(pattern, key):
                out[re.sub(pattern, repl.replace("{P}", prefix), key)] = tensor
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"{source}: unexpected keys {len(unknown)} [{', '.join(sorted(unknown)[:4])}]")
    return out, skipped


def head_config_of(weights: dict[str, torch.Tensor], variant: str, backbone: str, temperature: float) -> dict[str, Any]:
    """Our head config, with the dims read off the tensors (heads = 8 as in every released config)."""
    p = "net.patcher." if variant in ("xattn", "side-tuning") else "net."
    config: dict[str, Any] = {"variant": variant, "temperature": temperature}
    if variant == "transformer":
        d_v = weights[f"{p}layer.norm1.weight"].shape[0]
        patcher = asdict(TransformerConfig(media_dim=d_v, heads=8, ff_dim=weights[f"{p}layer.linear1.weight"].shape[0]))
        config |= {"patcher_variant": "transformer", "patcher": patcher}
    else:
        latents = weights[f"{p}latents"]
        depth = len({k.split(".")[len(p.split(".")) ] for k in weights if k.startswith(f"{p}layers.")})
        inner = weights[f"{p}layers.0.0.to_q.weight"].shape[0]
        temporal = weights.get(f"{p}temporal")
        perceiver = PerceiverConfig(
            dim=latents.shape[1], media_dim=weights[f"{p}layers.0.0.norm_media.weight"].shape[0],
            num_frames=temporal.shape[0] if temporal is not None else 8, num_latents=latents.shape[0], depth=depth,
            heads=8, dim_head=inner // 8, ff_mult=weights[f"{p}layers.0.1.1.weight"].shape[0] // latents.shape[1],
            temporal_embedding=temporal is not None,
        )  # fmt: skip
        config |= {"patcher_variant": "perceiver", "patcher": asdict(perceiver), "num_frames": perceiver.num_frames}
        if variant == "xattn":
            dim = weights["net.attn.to_q.weight"].shape[1]
            ff_mult = weights["net.ff.1.weight"].shape[0] // dim
            config["fuser"] = {"dim": dim, "heads": 8, "dim_head": weights["net.attn.to_q.weight"].shape[0] // 8, "ff_mult": ff_mult}
    dims = PAPER_BACKBONES[backbone]
    width = config["patcher"].get("dim", dims[0]), config["patcher"]["media_dim"]
    if variant != "transformer" and width != dims:
        raise CheckpointError(f"patcher dims {width} do not fit the {backbone} backbone (expects latent {dims[0]}, patch {dims[1]})")
    return config


def import_released(
    src: str | Path, dst: str | Path, backbone: str, backbone_checkpoint: str | Path | None = None, allow_pickle: bool = False
) -> Path:
    """Released Paxion `.pth` -> our `paxion-head` checkpoint (strictly checked against the rebuilt head)."""
    from paxion_models.heads import build_head

    if backbone not in PAPER_BACKBONES:
        raise CheckpointError(f"{src}: backbone must be one of {', '.join(PAPER_BACKBONES)}, not {backbone!r}")
    state = read_released(src, allow_pickle)
    variant = variant_of(state, src)
    weights, skipped = map_keys(state, variant, src)
    if "temp" not in state:
        raise CheckpointError(f"{src}: no temperature 'temp' found")
    tau = float(state["temp"])
    weights["temperature.log_tau"] = torch.tensor(math.log(tau))
    config = head_config_of(weights, variant, backbone, tau)
    args: dict[str, Any] = {"checkpoint": str(Path(backbone_checkpoint).resolve()) if backbone_checkpoint else None}
    if backbone == "singularity":
        args["clip_normalisation"] = True  # the released heads were trained on CLIP-normalised frames
    config["backbone"] = {"name": backbone, "args": args, "weights_hash": None}
    config["source"] = {"file": Path(src).name, "skipped": skipped, "extension": variant in ("xattn", "side-tuning") and backbone != "internvideo"}
    load_strict(build_head(config, None), weights, src)  # every key and shape, before anything is written
    return save_checkpoint(dst, weights, {"kind": "paxion-head", **config})
