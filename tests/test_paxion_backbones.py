"""Backbones: the mini dual encoder and the open_clip frame-wise backbone behave as the interface promises."""

from __future__ import annotations

import json

import pytest
import torch

from paxion_models.backbones import BackboneError, build_backbone
from paxion_models.backbones.mini import MiniBackbone, MiniConfig, WordTokenizer
from paxion_models.checkpoints import CheckpointError

TEXTS = ["pushing a red cube from left to right", "pushing a red cube from right to left", "opening a box"]


@pytest.fixture(scope="module")
def mini() -> MiniBackbone:
    torch.manual_seed(0)
    return MiniBackbone(MiniConfig(image_size=32, vocab=WordTokenizer.from_texts(TEXTS).vocab)).freeze()


def frames(b=2, t=8, size=32, seed=0) -> torch.Tensor:
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_tokenizer_is_built_from_captions_deterministically_and_maps_unknown_words():
    tok = WordTokenizer.from_texts(list(reversed(TEXTS)))
    assert tok.vocab == WordTokenizer.from_texts(TEXTS).vocab
    ids, mask = tok(["Opening a BOX", "opening a zebra now"])
    assert ids.shape == (2, 4) and mask.tolist() == [[True, True, True, False], [True] * 4]
    assert ids[1, 2] == tok.index["<unk>"]


def test_mini_frame_tokens_depend_only_on_their_frame(mini):
    x = frames()
    y = x.clone()
    y[:, 0] += 1.0
    with torch.no_grad():
        a, b = mini.encode_video(x), mini.encode_video(y)
    assert a.patch_tokens.shape == (2, 8, mini.tokens_per_frame, mini.patch_dim)
    torch.testing.assert_close(a.patch_tokens[:, 5], b.patch_tokens[:, 5])
    assert not torch.allclose(a.patch_tokens[:, 0], b.patch_tokens[:, 0])


def test_mini_video_vector_is_order_invariant_and_text_vector_is_order_aware(mini):
    x = frames()
    with torch.no_grad():
        fwd = mini.encode_video(x)
        torch.testing.assert_close(fwd.global_vec, mini.encode_video(torch.flip(x, dims=[1])).global_vec, atol=1e-5, rtol=0)
        t = mini.encode_text(TEXTS[:2]).global_vec
    assert not torch.allclose(t[0], t[1], atol=1e-3)  # same words, different order


def test_reversed_features_by_flipping_equal_a_second_pass(mini):
    x = frames()
    with torch.no_grad():
        fwd = mini.encode_video(x)
        flipped = mini.encode_video_reversed(x, forward=fwd)
        second = mini.encode_video(torch.flip(x, dims=[1]))
    torch.testing.assert_close(flipped.patch_tokens, second.patch_tokens)
    torch.testing.assert_close(flipped.global_vec, second.global_vec, atol=1e-5, rtol=0)


def test_mini_checkpoint_round_trips_with_its_vocabulary_and_refuses_other_files(mini, tmp_path):
    path = mini.save(tmp_path / "mini.safetensors")
    loaded = build_backbone("mini", checkpoint=str(path))
    assert loaded.tokenizer.vocab == mini.tokenizer.vocab
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_text(TEXTS).global_vec, mini.encode_text(TEXTS).global_vec)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        build_backbone("mini", checkpoint=str(tmp_path / "junk.safetensors"))


def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(BackboneError, match="unknown backbone 'nope'"):
        build_backbone("nope")


TINY_CLIP = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16, "head_width": 32},
             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_clip_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "tiny-clip.json"
    path.write_text(json.dumps(TINY_CLIP))
    return str(path)


def test_openclip_backbone_gives_frame_wise_patch_tokens_and_the_clip_models_frame_mean(tiny_clip_config):
    from actionbench.models.clip import clip

    backbone = build_backbone("openclip", arch=tiny_clip_config)
    reference = clip(tiny_clip_config)
    x = frames(size=32)
    with torch.no_grad():
        f = backbone.encode_video(x)
        torch.testing.assert_close(f.global_vec, reference.encode_videos(x))
        torch.testing.assert_close(backbone.encode_text(TEXTS).global_vec, reference.encode_texts(TEXTS))
        y = x.clone()
        y[:, 0] += 1
        torch.testing.assert_close(backbone.encode_video(y).patch_tokens[:, 5], f.patch_tokens[:, 5])
        torch.testing.assert_close(backbone.project_visual(f.patch_tokens).shape[-1], 32)
    assert f.patch_tokens.shape == (2, 8, 4, 64)
    assert backbone.frame_separable and backbone.global_order_invariant
    assert (backbone.embed_dim, backbone.patch_dim, backbone.tokens_per_frame) == (32, 64, 4)
