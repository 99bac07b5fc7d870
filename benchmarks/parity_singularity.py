"""Parity: our Singularity-temporal-17M against the original (src/Singularity, transformers 4.26) on the same
random weights.

    PYTHONPATH=<site with transformers==4.26.1, easydict> python benchmarks/parity_singularity.py --original /path/to/Paxion/src

The original retrieval model `Singularity` is built from `pretrained_singularity_temporal_17m.yaml`'s settings,
its two hub downloads (BEiT, BERT) replaced by constructors with the local configs, perturbed, and written as the
pre-training file is laid out: `{'model': ...}` with `text_encoder.bert.*`, an MLM head, the
`relative_position_index` buffers and a 4-frame temporal embedding. It is loaded back through the original
loader's steps (pop the index buffers, drop `bert.`, `load_temp_embed_with_mismatch`, `strict=False`) and through
our strict loader. `scipy` (imported by the original utils for bias-table resizing, not needed at 224) is stubbed.
Token ids are fixed by hand (no vocabulary offline), as the original fixture did. Outputs compared: global video
vector, patch tokens (after the temporal encoder), text global vector, text tokens (layer 8).
"""

from __future__ import annotations

import json
import sys
import types

import torch
from _parity import Report, arguments, frames, perturb

from paxion_models.backbones.singularity import Singularity

IDS = torch.tensor([[101, 1037, 2711, 7480, 1996, 2341, 102, 0, 0, 0], [101, 2619, 2003, 13053, 2300, 2046, 1037, 3221, 3254, 102]])


def main() -> None:
    args = arguments(__doc__)
    scipy = types.ModuleType("scipy")
    scipy.interpolate = types.ModuleType("scipy.interpolate")
    sys.modules.update({"scipy": scipy, "scipy.interpolate": scipy.interpolate})
    from easydict import EasyDict
    from Singularity.models import model_retrieval_base as base
    from Singularity.models import utils as sutils
    from Singularity.models.model_retrieval import Singularity as Original
    from transformers import BeitConfig, BeitModel

    report = Report("Singularity-temporal-17M")
    configs = args.original / "Singularity" / "configs"
    beit = {k: v for k, v in json.loads((configs / "beit-base-patch16-224-pt22k-ft22k.json").read_text()).items() if k not in ("note", "url")}

    def local_vit(cls, model_card, image_size):  # replaces the hub download, same architecture
        return BeitModel(BeitConfig(**{**beit, "image_size": image_size}), add_pooling_layer=True)

    def local_bert(self):
        bert_config = base.BertConfig.from_json_file(self.config.bert_config)
        return base.BertModel(bert_config, add_pooling_layer=False)

    base.SingularityRetrievalBase.build_huggingface_vit_with_image_size = classmethod(local_vit)
    base.SingularityRetrievalBase.build_text_encoder = local_bert
    cfg = EasyDict({
        "embed_dim": 256, "temp": 0.07, "vit_type": "beit", "vit_name_or_pretrained_path": "microsoft/beit-base-patch16-224-pt22k-ft22k",
        "image_res": 224, "text_encoder": "bert-base-uncased", "bert_config": str(configs / "config_bert.json"), "debug": False,
        "video_input": {"num_frames": 8}, "add_temporal_embed": True,
        "temporal_vision_encoder": {"enable": True, "num_layers": 2, "update_pooler_embed": False},
    })  # fmt: skip

    generator = Original(config=cfg, tokenizer=None)
    perturb(generator)
    state = {}
    for key, value in generator.state_dict().items():
        state[key.replace("text_encoder.", "text_encoder.bert.", 1) if key.startswith("text_encoder.") else key] = value
    state["temporal_embeddings"] = state["temporal_embeddings"][:, :4].clone()  # the 4-frame second stage
    gen = torch.Generator().manual_seed(3)
    head = "text_encoder.cls.predictions."
    state |= {head + "bias": torch.zeros(30522), head + "transform.dense.weight": torch.randn(768, 768, generator=gen) * 0.02,
              head + "transform.dense.bias": torch.zeros(768), head + "transform.LayerNorm.weight": torch.ones(768),
              head + "transform.LayerNorm.bias": torch.zeros(768), head + "decoder.weight": state["text_encoder.bert.embeddings.word_embeddings.weight"].clone(),
              head + "decoder.bias": torch.zeros(30522)}  # fmt: skip
    path = args.work / "singularity_temporal_17m.pth"
    torch.save({"model": state, "epoch": 9}, path)
    report.notes.append(f"file: {len(state)} tensors")
    del generator, state

    original = Original(config=cfg, tokenizer=None)  # the original setup_model's loading steps
    loaded = torch.load(path, map_location="cpu")["model"]
    loaded = sutils.interpolate_pos_relative_bias_beit(
        state_dict_old=loaded, state_dict_new=original.state_dict(),
        patch_shape_new=original.vision_encoder.embeddings.patch_embeddings.patch_shape,
    )  # fmt: skip
    for key in list(loaded):
        if "bert" in key:
            loaded[key.replace("bert.", "")] = loaded.pop(key)
    loaded["temporal_embeddings"] = sutils.load_temp_embed_with_mismatch(loaded["temporal_embeddings"], original.temporal_embeddings.data)
    result = original.load_state_dict(loaded, strict=False)
    original.eval()
    missing = sorted({k.split(".")[-1] for k in result.missing_keys})
    report.notes.append(f"original loader: missing {len(result.missing_keys)} {missing} (recomputed), unexpected {len(result.unexpected_keys)} (MLM head)")
    (args.work / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
    ours = Singularity.from_official(path, vocab=args.work / "vocab.txt")
    report.notes.append(ours.load_report.summary())

    video = frames(args.batch, args.frames)
    mask = (IDS != 0).long()
    with torch.no_grad():
        embeds, pooled = original.encode_image(video)  # as PatchAndFuseSingularity.encode_video_backbone
        g = original.vision_proj(pooled).mean(1)
        tokens = embeds.unflatten(1, (args.frames, -1))
        text_embeds, text_pooled = original.encode_text(types.SimpleNamespace(input_ids=IDS, attention_mask=mask))
        t = original.text_proj(text_pooled)
        mine = ours.encode_video(video)
        text = ours.encode_token_ids(IDS, mask)
    report.compare("video_global", mine.global_vec, g)
    report.compare("patch_tokens", mine.patch_tokens, tokens)
    report.compare("text_global", text.global_vec, t)
    report.compare("text_tokens", text.tokens, text_embeds)
    zero = [i for i in range(ours.temporal_embeddings.shape[1]) if not ours.temporal_embeddings[0, i].any()]
    report.notes.append(f"temporal embedding frames left zero (ours): {zero}")
    path.unlink()
    report.finish(args.out)


if __name__ == "__main__":
    main()
