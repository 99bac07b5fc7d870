"""Parity: our InternVideo-MM-L-14 against the original (src/InternVideo) on the same random weights.

    PYTHONPATH=<site with timm> python benchmarks/parity_internvideo.py --original /path/to/Paxion/src

The original's CLIP model is built the way `build_model` builds it for a 1024-wide `visual_proj`, perturbed,
saved as `{'state_dict': {'clip.' + key: tensor}}`, then loaded back through the original `build_model`
(as `InternVideo.load_model` does) and through our strict loader. Outputs compared (eval, fp32): global video
vector, patch tokens (last block, `[B, T, 257, 1024]`), the reversed view's global vector (ours: trunk reused),
text global vector and text tokens.
"""

from __future__ import annotations

import importlib
import sys
import types

import torch
from _parity import TEXTS, Report, arguments, frames, perturb

from paxion_models.backbones.internvideo import InternVideo
from paxion_models.backbones.tokenizers import clip_fixed


def original_modules(src):
    """The original `clip_utils` modules, imported without running its package __init__ (which needs decord)."""
    base = src / "InternVideo" / "clip_utils"
    for name, path in (("orig_iv", base), ("orig_iv.utils", base / "utils")):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(path)]
        sys.modules[name] = pkg
    vit = importlib.import_module("orig_iv.utils.clip_vit_only_global")
    sys.modules["orig_iv.utils"].vit_only_global_l14 = vit.vit_only_global_l14
    return importlib.import_module("orig_iv.model")


def main() -> None:
    args = arguments(__doc__)
    report = Report("InternVideo-MM-L-14")
    model_mod = original_modules(args.original)
    generator = model_mod.VideoIntern(
        768, 1024, 77, 49408, 768, 12, 12, n_layers=4, n_dim=1024, n_head=16, t_size=args.frames,
        backbone="vit_only_global_l14", return_list=[20, 21, 22, 23],
    )  # fmt: skip
    perturb(generator)
    path = args.work / "InternVideo-MM-L-14.ckpt"
    torch.save({"state_dict": {"clip." + k: v for k, v in generator.state_dict().items()}, "epoch": 0}, path)
    del generator

    state = torch.load(path, map_location="cpu")["state_dict"]  # the original load_model, step by step
    original = model_mod.build_model({k[len("clip.") :]: v for k, v in state.items() if k.startswith("clip.")}).eval()
    del state
    ours = InternVideo.from_official(path)
    report.notes.append(ours.load_report.summary())

    video = frames(args.batch, args.frames)
    ids = clip_fixed(TEXTS)
    with torch.no_grad():
        original.visual.transformer.T = args.frames  # as the Paxion wrapper does
        g, tokens = original.encode_video(video.transpose(1, 2), return_all_feats=True, mode="video")
        g_rev = original.encode_video(torch.flip(video, dims=[1]).transpose(1, 2), mode="video")
        t, t_tokens = original.encode_text(ids.int(), return_all_feats=True)
        mine = ours.encode_video(video)
        mine_rev = ours.encode_video_reversed(video, mine)
        text = ours.encode_token_ids(ids)
    report.compare("video_global", mine.global_vec, g)
    report.compare("patch_tokens", mine.patch_tokens, tokens.permute(1, 2, 0, 3))  # [L, B, T, C] -> [B, T, L, C]
    report.compare("video_global_reversed", mine_rev.global_vec, g_rev)
    report.compare("text_global", text.global_vec, t)
    report.compare("text_tokens", text.tokens, t_tokens)
    report.notes.append(f"order effect on the original's global vector: {float((g - g_rev).abs().max()):.4g}")
    path.unlink()
    report.finish(args.out)


if __name__ == "__main__":
    main()
