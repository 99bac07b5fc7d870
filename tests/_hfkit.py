"""Tiny random Hugging Face checkpoints, written to a folder as a hub snapshot would be: config + safetensors +
tokenizer + processor configs. Nothing is downloaded: configs come from transformers' config classes and the
tokenizer (one token per character, plus the model's special tokens) is built here with `tokenizers`."""

from __future__ import annotations

from pathlib import Path

import torch

CHARS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:?()\n'-_")
CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
        "{% if c['type'] == 'video' %}VIDEO{% elif c['type'] == 'image' %}IMAGE{% else %}{{ c['text'] }}{% endif %}"
        "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def char_tokenizer(specials: list[str], *, bos: str | None = None, eos: str | None = None, pad: str = "<pad>",
                   last: str | None = None):
    """A fast tokenizer with one token per character; `last` gets the largest id (CLIP pools at argmax id)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    ordered = [s for s in specials if s != last] + CHARS + ([last] if last else [])
    vocab = {t: i for i, t in enumerate(ordered)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(specials)
    if bos and eos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A {eos}", special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])])
    kwargs = {"unk_token": "<unk>", "pad_token": pad}
    if bos:
        kwargs["bos_token"] = bos
    if eos:
        kwargs["eos_token"] = eos
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs), vocab


def _random(model_cls, cfg, seed: int):
    """A model with random weights drawn from `seed`, leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_cls(cfg)


def _save(folder: Path, model, processor) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _mrope(head_dim: int) -> list[int]:
    """Multimodal RoPE sections (time, height, width) that fill half a head, in Qwen2-VL's 1 : 1.5 : 1.5 shape."""
    half = head_dim // 2
    t = max(1, half // 4)
    h = (half - t) // 2
    return [t, h, half - t - h]


def qwen2_vl(folder: Path, seed: int = 0, *, hidden: int = 32, layers: int = 2, side: int = 56) -> Path:
    """A Qwen2-VL-type model (multimodal RoPE, video patches merged 2x2) taking `side` x `side` frames
    (a multiple of 28); `hidden` and `layers` size its language model (benchmarks/vlm_throughput.py)."""
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    specials = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|video_pad|>", "<|image_pad|>"]
    tok, vocab = char_tokenizer(specials, eos="<|im_end|>")
    cfg = Qwen2VLConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "mrope_section": _mrope(hidden // 4), "rope_theta": 1e4},
                         bos_token_id=None, eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<pad>"]),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=hidden, num_heads=2, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"],
    )
    model = _random(Qwen2VLForConditionalGeneration, cfg, seed)
    budget = {"min_pixels": side * side, "max_pixels": side * side}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**budget), tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(**budget, cap_pixels_per_frame=False),
        chat_template=CHAT.replace("VIDEO", "<|vision_start|><|video_pad|><|vision_end|>")
        .replace("IMAGE", "<|vision_start|><|image_pad|><|vision_end|>"))
    return _save(Path(folder), model, processor)


def llava_onevision(folder: Path, seed: int = 0) -> Path:
    """A LLaVA-OneVision-type model (SigLIP vision tower, Qwen2 language model, pooled video tokens), 28 x 28."""
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    specials = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
    tok, vocab = char_tokenizer(specials, eos="<|im_end|>")
    cfg = LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=7),
        text_config=dict(model_type="qwen2", vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, bos_token_id=None, eos_token_id=vocab["<|im_end|>"],
                         pad_token_id=vocab["<pad>"]),
        image_token_index=vocab["<image>"], video_token_index=vocab["<video>"], vision_feature_layer=-1,
        vision_feature_select_strategy="full", image_grid_pinpoints=[[28, 28]],
    )
    model = _random(LlavaOnevisionForConditionalGeneration, cfg, seed)
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size={"height": 28, "width": 28}, image_grid_pinpoints=[[28, 28]]),
        tokenizer=tok, video_processor=LlavaOnevisionVideoProcessor(size={"height": 28, "width": 28}),
        num_image_tokens=16, vision_feature_select_strategy="full",
        chat_template=CHAT.replace("VIDEO", "<video>\n").replace("IMAGE", "<image>\n"))
    return _save(Path(folder), model, processor)


def _clip_text(vocab: dict[str, int], eos: str) -> dict:
    return dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=64, bos_token_id=vocab["<bos>"],
                eos_token_id=vocab[eos], pad_token_id=vocab["<pad>"])


def x_clip(folder: Path, seed: int = 0) -> Path:
    """An X-CLIP-type model: CLIP frame tower, multi-frame integration transformer, video-specific text prompts."""
    from transformers import CLIPImageProcessor, XCLIPConfig, XCLIPModel, XCLIPProcessor

    tok, vocab = char_tokenizer(["<unk>", "<pad>", "<bos>", "<eos>"], bos="<bos>", eos="<eos>", last="<eos>")
    cfg = XCLIPConfig(
        text_config=_clip_text(vocab, "<eos>"),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=16, num_frames=8, mit_hidden_size=16, mit_intermediate_size=32,
                           mit_num_hidden_layers=1, mit_num_attention_heads=2),
        projection_dim=16, prompt_layers=1, prompt_num_attention_heads=2, prompt_mlp_ratio=2,
    )
    model = _random(XCLIPModel, cfg, seed)
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return _save(Path(folder), model, XCLIPProcessor(image_processor=ip, tokenizer=tok))


def _siglip_family(folder: Path, seed: int, names: tuple[str, str, str, str], vision: dict, ip_kwargs: dict) -> Path:
    """SigLIP and SigLIP 2 share their text tower and processor layout; `names`: config, model, image processor
    and processor classes."""
    import transformers

    config_cls, model_cls, ip_cls, processor_cls = (getattr(transformers, n) for n in names)
    tok, vocab = char_tokenizer(["<unk>", "<pad>", "<eos>"], eos="<eos>")
    cfg = config_cls(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=64, pad_token_id=vocab["<pad>"],
                         eos_token_id=vocab["<eos>"]),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           **vision),
    )
    model = _random(model_cls, cfg, seed)
    return _save(Path(folder), model, processor_cls(image_processor=ip_cls(**ip_kwargs), tokenizer=tok))


def siglip(folder: Path, seed: int = 0) -> Path:
    """A SigLIP-type model (sigmoid-trained towers; text padded to max length), 32 x 32."""
    return _siglip_family(folder, seed, ("SiglipConfig", "SiglipModel", "SiglipImageProcessor", "SiglipProcessor"),
                          {"image_size": 32, "patch_size": 16}, {"size": {"height": 32, "width": 32}})


def siglip2(folder: Path, seed: int = 0) -> Path:
    """A SigLIP 2 NaFlex-type model (variable patch grid; its processor patchifies), 16 patches of 8 pixels."""
    return _siglip_family(folder, seed, ("Siglip2Config", "Siglip2Model", "Siglip2ImageProcessor", "Siglip2Processor"),
                          {"patch_size": 8, "num_patches": 16}, {"patch_size": 8, "max_num_patches": 16})


def clip(folder: Path, seed: int = 0) -> Path:
    """A CLIP-type model (processor: shortest edge then centre crop), 32 x 32."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tok, vocab = char_tokenizer(["<unk>", "<pad>", "<bos>", "<eos>"], bos="<bos>", eos="<eos>", last="<eos>")
    cfg = CLIPConfig(text_config=_clip_text(vocab, "<eos>"), projection_dim=16,
                     vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, image_size=32, patch_size=16))
    model = _random(CLIPModel, cfg, seed)
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return _save(Path(folder), model, CLIPProcessor(image_processor=ip, tokenizer=tok))
