"""The paper's backbones (InternVideo-MM-L-14, CLIP-ViP-B/32, Singularity-temporal-17M): official key layouts,
strict loading with its allowlist, the pickle opt-in, the features each exposes, tokenizers, and the importer of
released Paxion heads. Logic runs on down-scaled configs; one slow test builds the three full-size models."""

from __future__ import annotations

import argparse
import gc
import json
import math

import pytest
import torch
from safetensors.torch import save_file

from paxion_models.backbones import checkpoints as ck
from paxion_models.backbones.clipvip import LAYOUT as CLIPVIP_LAYOUT
from paxion_models.backbones.clipvip import ClipVip, ClipVipConfig
from paxion_models.backbones.internvideo import LAYOUT as INTERNVIDEO_LAYOUT
from paxion_models.backbones.internvideo import InternVideo, InternVideoConfig
from paxion_models.backbones.singularity import LAYOUT as SINGULARITY_LAYOUT
from paxion_models.backbones.singularity import Singularity, SingularityConfig, relative_position_index
from paxion_models.backbones.tokenizers import WordPiece, basic_tokens, clip_fixed, clip_padded
from paxion_models.checkpoints import CheckpointError

# Module parameter counts from BACKBONES.md (the original modules built as Paxion configures them)
PARAMS = {"internvideo": 478_127_105, "clipvip": 151_288_833, "singularity": 216_324_035}

SMALL_INTERNVIDEO = InternVideoConfig(
    image_size=28, patch_size=14, vision_width=32, vision_layers=3, vision_heads=2, extractor_layers=(1, 2),
    embed_dim=16, text_width=32, text_layers=2, text_heads=2,
)  # fmt: skip
SMALL_CLIPVIP = ClipVipConfig(
    image_size=64, patch_size=32, vision_width=32, vision_layers=2, vision_heads=2, temporal_size=6,
    embed_dim=16, text_width=32, text_layers=2, text_heads=2,
)  # fmt: skip
SMALL_SINGULARITY = SingularityConfig(
    image_size=32, patch_size=16, vision_width=32, vision_layers=2, vision_heads=2, vision_mlp=64, text_width=32,
    text_layers=3, text_heads=2, text_mlp=64, fusion_layer=2, vocab_size=40, max_positions=16, num_frames=4, embed_dim=8,
)  # fmt: skip

TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "person", "opens", "the", "door", ",", "!", "un", "##aff", "##able", "cafe"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def perturbed(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random non-zero weights everywhere (some parts are zero-initialised, which hides order effects)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return model


def video(b: int, t: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


def small(name: str):
    if name == "internvideo":
        return perturbed(InternVideo(SMALL_INTERNVIDEO)).freeze(), INTERNVIDEO_LAYOUT, {}
    if name == "clipvip":
        return perturbed(ClipVip(SMALL_CLIPVIP)).freeze(), CLIPVIP_LAYOUT, {}
    model = perturbed(Singularity(SMALL_SINGULARITY)).freeze()
    return model, SINGULARITY_LAYOUT, model.official_extras(stored_frames=2)


def official_file(model, layout, extras, path, container=None) -> dict[str, torch.Tensor]:
    tensors = ck.to_official(model, layout, extras)
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    else:
        torch.save({container: tensors} if container else tensors, path)
    return tensors


# -- official key layouts and parameter counts (meta device: no memory)


@pytest.mark.parametrize(
    "name, cls, layout, entry",
    [
        ("internvideo", InternVideo, INTERNVIDEO_LAYOUT, "internvideo_mm_l14"),
        ("clipvip", ClipVip, CLIPVIP_LAYOUT, "clipvip_b32"),
        ("singularity", Singularity, SINGULARITY_LAYOUT, "singularity_temporal_17m"),
    ],
)
def test_module_keys_are_the_official_file_keys_except_the_allowlist(shared_data, name, cls, layout, entry):
    official = json.loads((shared_data / "backbone_keys.json").read_text())[entry]["official_checkpoint"]["keys"]
    theirs = {k["key"]: tuple(k["shape"]) for k in official}
    with torch.device("meta"):
        model = cls()
    ours = ck.official_shapes(model, layout)
    extra_in_file = sorted(set(theirs) - set(ours))
    assert set(ours) <= set(theirs)
    assert all(layout.ignore_reason(k) for k in extra_in_file)  # every file-only key is allowlisted
    resized = {k for k in ours if ours[k] != theirs[k]}
    assert resized == {layout.file_key(k) for k in layout.resized}
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]
    if name == "singularity":
        assert len(extra_in_file) == 12 + 7  # relative_position_index x 12, MLM head x 7
        assert theirs["temporal_embeddings"] == (1, 4, 1, 768) and ours["temporal_embeddings"] == (1, 8, 1, 768)
    else:
        assert extra_in_file == [] and resized == set()


def test_recomputed_relative_position_index_has_the_official_shape_and_layout():
    index = relative_position_index(14)
    assert index.shape == (197, 197) and index.dtype == torch.int64
    assert int(index.max()) == 731  # the table has 732 rows: 27*27 relative offsets + 3 CLS entries
    assert index[0, 0] == 731 and index[0, 5] == 729 and index[5, 0] == 730
    assert index[1, 1] == index[100, 100] == 13 * 27 + 13  # zero offset sits in the table's centre


# -- strict loading


@pytest.mark.parametrize("name", ["internvideo", "clipvip", "singularity"])
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_a_checkpoint_in_the_official_layout_loads_strictly_and_reproduces_the_outputs(tmp_path, name, suffix):
    model, layout, extras = small(name)
    path = tmp_path / f"{name}{suffix}"
    official_file(model, layout, extras, path, container=layout.container)
    fresh = type(model)(model.cfg)
    report = ck.load_official(fresh, path, layout)
    assert report.loaded == len(fresh.state_dict())
    frames = video(2, 4, model.cfg.image_size)
    with torch.no_grad():
        a, b = model.encode_video(frames), fresh.freeze().encode_video(frames)
    if name == "singularity":  # the file stored 2 of 4 temporal slots: the others load as zero
        assert torch.equal(fresh.temporal_embeddings[:, 2:], torch.zeros_like(fresh.temporal_embeddings[:, 2:]))
        assert not torch.allclose(a.patch_tokens, b.patch_tokens)
        assert torch.allclose(a.global_vec, b.global_vec, atol=1e-6)  # the global path has no temporal embedding
    else:
        assert torch.allclose(a.patch_tokens, b.patch_tokens, atol=1e-6)
        assert torch.allclose(a.global_vec, b.global_vec, atol=1e-6)


def test_singularity_allowlist_is_reported_by_name(tmp_path):
    model, layout, extras = small("singularity")
    path = tmp_path / "s.safetensors"
    official_file(model, layout, extras, path)
    report = ck.load_official(Singularity(model.cfg), path, layout)
    assert sum("relative_position_index" in k for k in report.ignored) == model.cfg.vision_layers
    assert sum(k.startswith("text_encoder.cls.predictions.") for k in report.ignored) == 7
    assert list(report.adapted) == ["temporal_embeddings"] and "(1, 2, 1, 32) -> (1, 4, 1, 32)" in report.adapted["temporal_embeddings"]
    assert "copied into the first frames, the rest zero" in report.summary()


def test_internvideo_skips_and_reports_keys_outside_the_clip_model(tmp_path):
    model, layout, _ = small("internvideo")
    path = tmp_path / "iv.safetensors"
    official_file(model, layout, {"other.head.weight": torch.zeros(3), "epoch_marker": torch.zeros(1)}, path)
    report = ck.load_official(InternVideo(model.cfg), path, layout)
    assert set(report.ignored) == {"other.head.weight", "epoch_marker"}


@pytest.mark.parametrize("name", ["internvideo", "clipvip", "singularity"])
def test_missing_and_unexpected_keys_are_one_line_errors_naming_them(tmp_path, name):
    model, layout, extras = small(name)
    tensors = ck.to_official(model, layout, extras)
    victim = sorted(k for k in tensors if "proj" in k and k in ck.official_shapes(model, layout))[0]
    del tensors[victim]
    tensors[layout.prefix + ("clip." if name == "internvideo" else "") + "surprise.weight"] = torch.zeros(2)
    path = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    with pytest.raises(CheckpointError) as err:
        ck.load_official(type(model)(model.cfg), path, layout)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert f"missing keys 1 [{victim}]" in message and "surprise.weight" in message


def test_a_shape_mismatch_outside_the_allowlist_is_an_error(tmp_path):
    model, layout, _ = small("clipvip")
    tensors = ck.to_official(model, layout)
    tensors["clipmodel.vision_model.embeddings.temporal_embedding"] = torch.zeros(1, 4, 32)  # not allowlisted here
    path = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    with pytest.raises(CheckpointError, match=r"shape mismatch: 1 \[clipmodel.vision_model.embeddings.temporal_embedding \(1, 4, 32\)"):
        ck.load_official(ClipVip(model.cfg), path, layout)


def test_official_pickles_need_the_explicit_opt_in_then_convert_to_safetensors(tmp_path):
    model, layout, extras = small("singularity")
    tensors = ck.to_official(model, layout, extras)
    tensors["text_encoder.cls.predictions.decoder.weight"] = tensors["text_encoder.bert.embeddings.word_embeddings.weight"]  # tied
    src = tmp_path / "singularity_temporal_17m.pth"
    torch.save({"model": tensors, "config": argparse.Namespace(lr=1e-4), "epoch": 9}, src)  # objects beyond tensors

    with pytest.raises(ck.PickleRefused, match="--allow-pickle"):
        ck.read_tensors(src)  # weights-only loading refuses the config object
    with pytest.raises(ck.PickleRefused, match="allow_pickle=True"):
        ck.convert_checkpoint(src, tmp_path / "out.safetensors", allow_pickle=False)
    assert not (tmp_path / "out.safetensors").exists()

    dst = ck.convert_checkpoint(src, tmp_path / "out.safetensors", allow_pickle=True)
    assert set(ck.read_tensors(dst)) == set(tensors)
    loaded = Singularity.from_official(dst, model.cfg, vocab=_vocab(tmp_path))
    assert torch.equal(loaded.text_proj.weight, model.text_proj.weight)


def test_plain_weights_only_torch_files_load_without_conversion(tmp_path):
    model, layout, _ = small("clipvip")
    path = tmp_path / "pretrain_clipvip_base_32.pt"
    official_file(model, layout, {}, path)
    loaded = ClipVip.from_official(path, model.cfg)
    assert loaded.weights_hash and loaded.load_report.loaded == len(loaded.state_dict())


# -- features and their properties


def test_internvideo_patch_tokens_are_frame_separable_and_its_global_vector_order_sensitive():
    model, _, _ = small("internvideo")
    frames = video(2, 4, 28)
    changed = frames.clone()
    changed[:, 0] += torch.randn_like(changed[:, 0])
    with torch.no_grad():
        a, b = model.encode_video(frames), model.encode_video(changed)
        rev = model.encode_video(torch.flip(frames, dims=[1]))
    assert a.patch_tokens.shape == (2, 4, 5, 32) and a.global_vec.shape == (2, 16)
    assert torch.equal(a.patch_tokens[:, 1:], b.patch_tokens[:, 1:]) and not torch.allclose(a.patch_tokens[:, 0], b.patch_tokens[:, 0])
    assert torch.allclose(rev.patch_tokens, torch.flip(a.patch_tokens, dims=[1]), atol=1e-6)
    assert not torch.allclose(rev.global_vec, a.global_vec, atol=1e-4)
    assert model.frame_separable and not model.global_order_invariant


def test_internvideo_reversed_view_reuses_the_trunk_and_equals_a_full_second_pass():
    model, _, _ = small("internvideo")
    frames = video(2, 4, 28)
    with torch.no_grad():
        forward = model.encode_video(frames)
        fast = model.encode_video_reversed(frames, forward)
        full = model.encode_video(torch.flip(frames, dims=[1]))
        no_cache = model.encode_video_reversed(frames)
    assert torch.allclose(fast.global_vec, full.global_vec, atol=1e-5)
    assert torch.allclose(fast.patch_tokens, full.patch_tokens, atol=1e-5)
    assert torch.allclose(no_cache.global_vec, full.global_vec, atol=1e-6)
    model.keep_trunk = False  # memory-light mode: the reversed view falls back to a full pass
    with torch.no_grad():
        light = model.encode_video(frames)
        assert light.extractor_inputs is None
        assert torch.allclose(model.encode_video_reversed(frames, light).global_vec, full.global_vec, atol=1e-6)


def test_internvideo_with_its_zero_initialised_extractor_is_half_the_mean_frame_cls():
    model = InternVideo(SMALL_INTERNVIDEO).freeze()  # extractor out-projections zero, balance 0, as the original
    frames = video(1, 4, 28)
    with torch.no_grad():
        out = model.encode_video(frames)
        expected = model.clip.project_video(0.5 * out.patch_tokens[:, :, 0].mean(1))
    assert torch.allclose(out.global_vec, expected, atol=1e-6)


def test_clipvip_frames_mix_through_the_proxies_and_the_global_vector_sees_order():
    model, _, _ = small("clipvip")
    frames = video(2, 4, 64)
    changed = frames.clone()
    changed[:, 0] += torch.randn_like(changed[:, 0])
    with torch.no_grad():
        a, b = model.encode_video(frames), model.encode_video(changed)
        rev = model.encode_video(torch.flip(frames, dims=[1]))
    assert a.patch_tokens.shape == (2, 4, 4, 32) and a.global_vec.shape == (2, 16)
    assert not torch.allclose(a.patch_tokens[:, 3], b.patch_tokens[:, 3], atol=1e-5)
    assert not torch.allclose(rev.global_vec, a.global_vec, atol=1e-5)
    assert not model.frame_separable and not model.global_order_invariant


def test_clipvip_temporal_embedding_is_interpolated_linearly_to_the_frame_count():
    model, _, _ = small("clipvip")
    emb = model.clipmodel.vision_model.embeddings
    assert emb.temporal(6) is emb.temporal_embedding
    stretched = emb.temporal(11)
    assert stretched.shape == (1, 11, 32)
    assert torch.allclose(stretched[0, 0], emb.temporal_embedding[0, 0])  # align_corners=False keeps the ends


def test_singularity_global_vector_ignores_order_but_its_tokens_mix_frames():
    model, _, _ = small("singularity")
    frames = video(2, 4, 32)
    changed = frames.clone()
    changed[:, 0] += torch.randn_like(changed[:, 0])
    with torch.no_grad():
        a, b = model.encode_video(frames), model.encode_video(changed)
        rev = model.encode_video(torch.flip(frames, dims=[1]))
    assert a.patch_tokens.shape == (2, 4, 5, 32) and a.global_vec.shape == (2, 8)
    assert not torch.allclose(a.patch_tokens[:, 3], b.patch_tokens[:, 3], atol=1e-5)
    assert torch.allclose(rev.global_vec, a.global_vec, atol=1e-5)
    assert model.global_order_invariant and not model.frame_separable


def test_singularity_uses_first_temporal_slots_and_interpolates_beyond_them():
    model, _, _ = small("singularity")
    assert torch.equal(model.temporal_embedding(3), model.temporal_embeddings[:, :3])
    assert model.temporal_embedding(7).shape == (1, 7, 1, 32)


def test_singularity_normalisation_is_beit_for_the_backbone_row_and_clip_for_released_heads():
    from paxion_models.backbones.singularity import build

    own = build(**vars(SMALL_SINGULARITY))
    reused = build(clip_normalisation=True, **vars(SMALL_SINGULARITY))
    assert own.preprocess.mean == own.preprocess.std == (0.5, 0.5, 0.5)
    assert reused.preprocess.mean == (0.48145466, 0.4578275, 0.40821073)


# -- text


def test_clip_tokenizers_match_the_originals_ids(shared_data):
    facts = json.loads((shared_data / "backbone_keys.json").read_text())
    texts = facts["_meta"]["input_used"]["texts"]
    fixed = clip_fixed(texts)
    assert fixed.shape == (2, 77)
    assert fixed[:, :8].tolist() == facts["internvideo_mm_l14"]["tokenizer"]["example_ids_first8"]
    ids, mask = clip_padded(texts)
    assert ids.tolist() == facts["clipvip_b32"]["tokenizer"]["example_input_ids"]
    assert mask.int().tolist() == facts["clipvip_b32"]["tokenizer"]["example_attention_mask"]


def test_clip_tokenizers_truncate_to_77_keeping_end_of_text():
    long = " ".join(["door"] * 200)
    assert clip_fixed([long])[0, -1] == 49407
    ids, mask = clip_padded([long, "a door"])
    assert ids.shape == (2, 77) and ids[0, -1] == 49407 and mask[1].sum() == 4 and ids[1, 3:].eq(49407).all()


def _vocab(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    return path


def test_wordpiece_lowercases_strips_accents_splits_punctuation_and_pieces_words(tmp_path):
    tok = WordPiece.from_file(_vocab(tmp_path))
    assert basic_tokens("A person, OPENS the Café!") == ["a", "person", ",", "opens", "the", "cafe", "!"]
    assert tok.tokenize("Unaffable doors") == ["un", "##aff", "##able", "[UNK]"]
    ids, mask = tok(["A person opens the door!", "the door"])
    assert ids.tolist() == [[2, 4, 5, 6, 7, 8, 10, 3], [2, 7, 8, 3, 0, 0, 0, 0]]
    assert mask.sum(1).tolist() == [8, 4]


def test_wordpiece_needs_a_vocabulary_with_the_special_tokens(tmp_path):
    from paxion_models.backbones.tokenizers import VocabularyError

    with pytest.raises(VocabularyError, match="vocab.txt"):
        WordPiece.from_file(tmp_path / "vocab.txt")
    (tmp_path / "v.txt").write_text("a\nb\n")
    with pytest.raises(VocabularyError, match=r"\[PAD\]"):
        WordPiece.from_file(tmp_path / "v.txt")


@pytest.mark.parametrize("name", ["internvideo", "clipvip"])
def test_clip_text_features_pool_the_end_of_text_token(name):
    model, _, _ = small(name)
    with torch.no_grad():
        out = model.encode_text(["a person opens the door", "a door"])
    n_tokens = 77 if name == "internvideo" else 7
    assert out.tokens.shape == (2, n_tokens, 32) and out.global_vec.shape == (2, 16)
    assert out.mask.sum(1).tolist() == [7, 4]


def test_singularity_text_runs_the_text_layers_only_and_ignores_padding(tmp_path):
    model, _, _ = small("singularity")
    model.tokenizer = WordPiece.from_file(_vocab(tmp_path))
    with torch.no_grad():
        both = model.encode_text(["a person opens the door", "the door"])
        alone = model.encode_text(["the door"])
        model.text_encoder.encoder.layer[2].crossattention.self.query.weight.add_(1.0)  # fusion layer: unused
        again = model.encode_text(["the door"])
    assert both.tokens.shape == (2, 7, 32) and both.global_vec.shape == (2, 8)
    assert torch.allclose(both.global_vec[1], alone.global_vec[0], atol=1e-5)
    assert torch.equal(alone.global_vec, again.global_vec)


# -- the released Paxion heads


def released_state(variant: str, d: int = 768, d_v: int = 1024, seed: int = 0) -> dict[str, torch.Tensor]:
    """A synthetic state dict in the original trainer's names (src/models.py, modeling_perceiver_xattn.py)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    state = {"temp": torch.tensor(0.05), "vl_backbone.visual.conv1.weight": r(4, 3), "vl_backbone.logit_scale": r(())}
    if variant == "transformer":
        p = "vision_adaptor.transformer_encoder.layers.0."
        state |= {p + "self_attn.in_proj_weight": r(3 * d_v, d_v), p + "self_attn.in_proj_bias": r(3 * d_v),
                  p + "self_attn.out_proj.weight": r(d_v, d_v), p + "self_attn.out_proj.bias": r(d_v),
                  p + "linear1.weight": r(2048, d_v), p + "linear1.bias": r(2048), p + "linear2.weight": r(d_v, 2048),
                  p + "linear2.bias": r(d_v), p + "norm1.weight": r(d_v), p + "norm1.bias": r(d_v),
                  p + "norm2.weight": r(d_v), p + "norm2.bias": r(d_v)}  # fmt: skip
        return state
    p = "vision_perceiver."
    state |= {p + "latents": r(16, d), p + "layers.0.0.norm_media.weight": r(d_v), p + "layers.0.0.norm_media.bias": r(d_v),
              p + "layers.0.0.norm_latents.weight": r(d), p + "layers.0.0.norm_latents.bias": r(d),
              p + "layers.0.0.to_q.weight": r(512, d), p + "layers.0.0.to_kv.weight": r(1024, d_v),
              p + "layers.0.0.to_out.weight": r(d, 512), p + "layers.0.1.0.weight": r(d), p + "layers.0.1.0.bias": r(d),
              p + "layers.0.1.1.weight": r(2 * d, d), p + "layers.0.1.3.weight": r(d, 2 * d),
              p + "norm.weight": r(d), p + "norm.bias": r(d), "temporal_embedding": r(8, d_v)}  # fmt: skip
    if variant == "xattn":
        f = "knowledge_fuser."
        state |= {f + "attn.norm_q.weight": r(d), f + "attn.norm_q.bias": r(d), f + "attn.norm_kv.weight": r(d),
                  f + "attn.norm_kv.bias": r(d), f + "attn.to_q.weight": r(512, d), f + "attn.to_kv.weight": r(1024, d),
                  f + "attn.to_out.weight": r(d, 512), f + "ff.0.weight": r(d), f + "ff.0.bias": r(d),
                  f + "ff.1.weight": r(2 * d, d), f + "ff.3.weight": r(d, 2 * d)}  # fmt: skip
    if variant == "side-tuning":
        state["alpha"] = torch.tensor(0.3)
    return state


@pytest.mark.parametrize("variant", ["perceiver", "xattn", "side-tuning", "transformer"])
def test_released_paxion_heads_import_into_our_layout(tmp_path, variant):
    from paxion_models.checkpoints import load_checkpoint
    from paxion_models.heads import build_head
    from paxion_models.released import import_released

    state = released_state(variant)
    src = tmp_path / "checkpoint_best.pth"
    torch.save({"model": state, "epoch": 0}, src)
    dst = import_released(src, tmp_path / "head.safetensors", "internvideo", backbone_checkpoint=None)
    weights, config = load_checkpoint(dst)
    assert config["kind"] == "paxion-head" and config["variant"] == variant
    assert config["source"]["skipped"] == {"frozen backbone (vl_backbone.*)": 2}
    assert math.isclose(math.exp(float(weights["temperature.log_tau"])), 0.05, rel_tol=1e-6)
    head = build_head(config, None)
    head.load_state_dict(weights, strict=True)
    if variant == "transformer":
        assert torch.equal(head.net.layer.linear1.weight, state["vision_adaptor.transformer_encoder.layers.0.linear1.weight"])
        return
    patcher = head.net if variant == "perceiver" else head.net.patcher
    assert torch.equal(patcher.latents, state["vision_perceiver.latents"])
    assert torch.equal(patcher.temporal, state["temporal_embedding"])
    assert torch.equal(patcher.layers[0][0].norm_queries.weight, state["vision_perceiver.layers.0.0.norm_latents.weight"])
    if variant == "xattn":
        assert torch.equal(head.net.attn.norm_media.weight, state["knowledge_fuser.attn.norm_kv.weight"])
        assert config["fuser"] == {"dim": 768, "heads": 8, "dim_head": 64, "ff_mult": 2}


def test_released_perceiver_computes_what_the_original_formula_gives(tmp_path):
    from paxion_models.backbones.base import VideoFeatures
    from paxion_models.checkpoints import load_checkpoint
    from paxion_models.heads import build_head
    from paxion_models.released import import_released

    d, d_v = 768, 1024
    state = released_state("perceiver", d, d_v)
    torch.save({"model": state}, tmp_path / "kp.pth")
    weights, config = load_checkpoint(import_released(tmp_path / "kp.pth", tmp_path / "kp.safetensors", "internvideo"))
    head = build_head(config, None).eval()
    head.load_state_dict(weights)
    tokens = torch.randn(1, 8, 3, d_v)
    with torch.no_grad():
        ours = head(VideoFeatures(torch.zeros(1, d), tokens))
        s = {k.removeprefix("vision_perceiver."): v for k, v in state.items()}
        ln = torch.nn.functional.layer_norm
        media = ln((tokens + state["temporal_embedding"][:, None]).flatten(1, 2), (d_v,), s["layers.0.0.norm_media.weight"], s["layers.0.0.norm_media.bias"])
        lat = s["latents"][None]
        q = ln(lat, (d,), s["layers.0.0.norm_latents.weight"], s["layers.0.0.norm_latents.bias"]) @ s["layers.0.0.to_q.weight"].T
        k, v = (media @ s["layers.0.0.to_kv.weight"].T).chunk(2, dim=-1)
        q, k, v = (x.unflatten(-1, (8, 64)).transpose(1, 2) for x in (q, k, v))
        attn = ((q * 64**-0.5) @ k.transpose(-1, -2)).softmax(-1) @ v
        lat = lat + attn.transpose(1, 2).flatten(2) @ s["layers.0.0.to_out.weight"].T
        ff = ln(lat, (d,), s["layers.0.1.0.weight"], s["layers.0.1.0.bias"]) @ s["layers.0.1.1.weight"].T
        lat = lat + torch.nn.functional.gelu(ff) @ s["layers.0.1.3.weight"].T
        expected = ln(lat, (d,), s["norm.weight"], s["norm.bias"])
    assert torch.allclose(ours, expected, atol=1e-4)


def test_released_heads_with_unsupported_parts_are_refused(tmp_path):
    from paxion_models.released import import_released

    state = released_state("perceiver") | {"text_perceiver.latents": torch.zeros(16, 768)}
    torch.save({"model": state}, tmp_path / "dual.pth")
    with pytest.raises(CheckpointError, match="text Perceiver"):
        import_released(tmp_path / "dual.pth", tmp_path / "x.safetensors", "internvideo")
    torch.save({"model": released_state("perceiver")}, tmp_path / "kp.pth")
    with pytest.raises(CheckpointError, match="do not fit the clipvip backbone"):
        import_released(tmp_path / "kp.pth", tmp_path / "x.safetensors", "clipvip")


# -- full size


@pytest.mark.slow
def test_full_size_backbones_load_official_layouts_and_give_the_documented_shapes(tmp_path):
    """One at a time (each is 0.6-1.9 GB): random weights -> official pickle -> convert -> strict load -> outputs."""
    cases = [
        (InternVideo, INTERNVIDEO_LAYOUT, "InternVideo-MM-L-14.ckpt", (768, (8, 257, 1024), 768, (77, 768))),
        (ClipVip, CLIPVIP_LAYOUT, "pretrain_clipvip_base_32.pt", (512, (8, 49, 768), 512, (10, 512))),
        (Singularity, SINGULARITY_LAYOUT, "singularity_temporal_17m.pth", (256, (8, 197, 768), 256, (10, 768))),
    ]
    texts = ["a person opens the door", "someone is pouring water into a glass slowly"]
    for cls, layout, filename, (d, tokens, d_text, text_tokens) in cases:
        model = cls().freeze()
        assert sum(p.numel() for p in model.parameters()) == PARAMS[model.name]
        extras = model.official_extras(stored_frames=4) if cls is Singularity else {}
        tensors = ck.to_official(model, layout, extras)
        src = tmp_path / filename
        torch.save({layout.container: tensors} if layout.container else tensors, src)
        del model, tensors, extras
        gc.collect()
        dst = ck.convert_checkpoint(src, tmp_path / (filename + ".safetensors"), allow_pickle=True)
        src.unlink()
        if cls is Singularity:
            (tmp_path / "vocab.txt").write_text("\n".join(TINY_VOCAB + ["someone", "is", "pouring", "water", "into", "glass", "slowly"]))
            loaded = cls.from_official(dst, vocab=tmp_path / "vocab.txt")
            assert list(loaded.load_report.adapted) == ["temporal_embeddings"]
            assert loaded.temporal_embeddings[:, 4:].abs().sum() == 0  # frames 4-7: zero, as the original
        else:
            loaded = cls.from_official(dst)
        dst.unlink()
        with torch.no_grad():
            out = loaded.encode_video(video(2, 8, 224))
            text = loaded.encode_text(texts)
        assert out.global_vec.shape == (2, d) and out.patch_tokens.shape == (2, *tokens)
        assert (loaded.tokens_per_frame, loaded.patch_dim, loaded.embed_dim) == (tokens[1], tokens[2], d)
        assert text.global_vec.shape == (2, d_text) and text.tokens.shape[1:] == text_tokens
        assert torch.isfinite(out.patch_tokens).all() and torch.isfinite(text.tokens).all()
        del loaded, out, text
        gc.collect()


@pytest.mark.parametrize("name", ["internvideo", "clipvip", "singularity"])
def test_project_visual_maps_patch_tokens_into_the_global_space_as_the_kp_transformer_did(name):
    model, _, _ = small(name)
    pooled = torch.randn(3, model.patch_dim)
    with torch.no_grad():
        out = model.project_visual(pooled)
    assert out.shape == (3, model.embed_dim)
