"""Parity: our CLIP-ViP-B/32 against the original (src/ClipViP, transformers 4.26) on the same random weights.

    PYTHONPATH=<site with transformers==4.26.1, easydict> python benchmarks/parity_clipvip.py --original /path/to/Paxion/src

The original `VidCLIP` is built from `pretrain_vip_base_32.json`'s ViP settings with a local CLIPConfig equal to
openai/clip-vit-base-patch32's architecture (no download; `clip_weights` empty: VidCLIP's own no-download
branch), perturbed, saved as a plain state dict, loaded back through the original's shape-checked
`strict=False` loading and through our strict loader. Token ids: ours (equal to CLIPTokenizerFast's on these
texts, checked in the tests). Outputs compared: global video vector, patch tokens, text global vector, text tokens.
"""

from __future__ import annotations

import json
import sys

import torch
from _parity import TEXTS, Report, arguments, frames, perturb

from paxion_models.backbones.clipvip import ClipVip
from paxion_models.backbones.tokenizers import clip_padded

CLIP_B32 = {  # openai/clip-vit-base-patch32 config.json, architecture fields
    "model_type": "clip", "projection_dim": 512, "logit_scale_init_value": 2.6592,
    "text_config": {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
                    "num_attention_heads": 8, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                    "layer_norm_eps": 1e-5, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1},
    "vision_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                      "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
}  # fmt: skip


def main() -> None:
    args = arguments(__doc__)
    sys.path.insert(0, str(args.original / "ClipViP"))  # the original imports itself as `src.modeling...`
    from easydict import EasyDict
    from src.modeling.VidCLIP import VidCLIP

    report = Report("CLIP-ViP-B/32")
    config_dir = args.work / "clip-vit-base-patch32"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps(CLIP_B32))
    vip = json.loads((args.original / "ClipViP/src/configs/pretrained/pretrain_vip_base_32.json").read_text())
    cfg = EasyDict({"clip_config": str(config_dir), "clip_weights": "", "clip_vision_additional_config": vip["clip_vision_additional_config"]})

    generator = VidCLIP(cfg)
    perturb(generator)
    path = args.work / "pretrain_clipvip_base_32.pt"
    torch.save(generator.state_dict(), path)
    del generator

    original = VidCLIP(cfg).eval()  # then the original's load_state_dict_with_mismatch: equal shapes, strict=False
    loaded = torch.load(path, map_location="cpu")
    own = original.state_dict()
    mismatched = [k for k in loaded if k in own and own[k].shape != loaded[k].shape]
    result = original.load_state_dict({k: v for k, v in loaded.items() if k in own and k not in mismatched}, strict=False)
    report.notes.append(f"original loader: missing {len(result.missing_keys)}, unexpected {len(result.unexpected_keys)}, shape-skipped {len(mismatched)}")
    ours = ClipVip.from_official(path)
    report.notes.append(ours.load_report.summary())

    video = frames(args.batch, args.frames)
    ids, mask = clip_padded(TEXTS)
    clip = original.clipmodel
    with torch.no_grad():
        out = clip.vision_model(pixel_values=video, return_dict=True)  # as PatchAndFuseClipVIP.encode_video_backbone
        g = clip.visual_projection(out.pooler_output)
        tokens = out.last_hidden_state[:, 4:].unflatten(1, (args.frames, -1))
        text_out = clip.text_model(input_ids=ids, attention_mask=mask.long(), return_dict=True)
        t = clip.text_projection(text_out.pooler_output)
        mine = ours.encode_video(video)
        text = ours.encode_token_ids(ids, mask)
    report.compare("video_global", mine.global_vec, g)
    report.compare("patch_tokens", mine.patch_tokens, tokens)
    report.compare("text_global", text.global_vec, t)
    report.compare("text_tokens", text.tokens, text_out.last_hidden_state)
    path.unlink()
    report.finish(args.out)


if __name__ == "__main__":
    main()
