"""Knowledge Patcher, Knowledge Fuser and Side-Tuning: sizes as the paper's, shapes, and what sees frame order."""

from __future__ import annotations

import torch

from paxion_models.backbones.base import VideoFeatures
from paxion_models.fuser import FuserConfig, KnowledgeFuser, SideTuning
from paxion_models.heads import Head
from paxion_models.patcher import (
    PerceiverConfig,
    PerceiverPatcher,
    TransformerConfig,
    TransformerPatcher,
    count_parameters,
    max_cosine,
)


def features(b=2, t=8, p=5, d=32, dim=16, seed=0) -> VideoFeatures:
    g = torch.Generator().manual_seed(seed)
    return VideoFeatures(torch.randn(b, dim, generator=g), torch.randn(b, t, p, d, generator=g))


def flipped(f: VideoFeatures) -> VideoFeatures:
    return VideoFeatures(f.global_vec, torch.flip(f.patch_tokens, dims=[1]))


def test_perceiver_at_internvideo_dims_has_the_papers_parameter_count():
    patcher = PerceiverPatcher(PerceiverConfig(dim=768, media_dim=1024))
    temporal = patcher.temporal.numel()
    assert count_parameters(patcher) - temporal == 4_213_248
    assert temporal == 8_192
    assert count_parameters(Head(patcher, {"variant": "perceiver"})) == 4_213_248 + 8_192 + 1  # + tau


def test_perceiver_at_clipvip_and_singularity_dims_matches_the_paper():
    clipvip = count_parameters(Head(PerceiverPatcher(PerceiverConfig(dim=512, media_dim=768)), {"variant": "perceiver"}))
    singularity = count_parameters(Head(PerceiverPatcher(PerceiverConfig(dim=256, media_dim=768)), {"variant": "perceiver"}))
    assert round(clipvip / 1e6, 2) == 2.38
    assert round(singularity / 1e6, 2) == 1.32


def test_transformer_patcher_and_fuser_sizes_match_the_paper():
    assert count_parameters(TransformerPatcher(TransformerConfig(1024, ff_dim=2048))) == 8_399_872  # 8.40M
    assert round(count_parameters(TransformerPatcher(TransformerConfig(768, ff_dim=1024))) / 1e6, 2) == 3.94
    fuser = KnowledgeFuser(FuserConfig(dim=768), patcher=torch.nn.Identity())
    assert round(count_parameters(fuser) / 1e6, 2) == 3.94


def test_perceiver_gives_16_latents_and_sees_frame_order_through_its_temporal_embedding():
    patcher = PerceiverPatcher(PerceiverConfig(dim=16, media_dim=32)).eval()
    f = features()
    out = patcher(f)
    assert out.shape == (2, 16, 16)
    assert not torch.allclose(out, patcher(flipped(f)), atol=1e-4)


def test_perceiver_without_temporal_embedding_is_blind_to_order_on_frame_separable_tokens():
    patcher = PerceiverPatcher(PerceiverConfig(dim=16, media_dim=32, temporal_embedding=False)).eval()
    f = features()
    torch.testing.assert_close(patcher(f), patcher(flipped(f)), atol=1e-5, rtol=0)


def test_transformer_patcher_is_order_invariant_as_in_the_original():
    proj = torch.nn.Linear(32, 16, bias=False)
    patcher = TransformerPatcher(TransformerConfig(32, heads=4, ff_dim=64), project=proj).eval()
    f = features()
    out = patcher(f)
    assert out.shape == (2, 1, 16)
    torch.testing.assert_close(out, patcher(flipped(f)), atol=1e-5, rtol=0)
    assert not any(p is proj.weight for p in patcher.parameters())  # the backbone's projection stays frozen


def test_fuser_queries_with_the_backbone_vector_and_sidetuning_starts_half_half():
    patcher = PerceiverPatcher(PerceiverConfig(dim=16, media_dim=32)).eval()
    f = features()
    fused = KnowledgeFuser(FuserConfig(dim=16), patcher).eval()(f)
    assert fused.shape == (2, 1, 16)
    other = VideoFeatures(f.global_vec + 1, f.patch_tokens)
    assert not torch.allclose(fused, KnowledgeFuser(FuserConfig(dim=16), patcher).eval()(other))
    side = SideTuning(patcher).eval()
    expected = 0.5 * torch.nn.functional.normalize(f.global_vec, dim=-1) + 0.5 * torch.nn.functional.normalize(
        patcher(f).mean(1), dim=-1
    )
    torch.testing.assert_close(side(f)[:, 0], expected)


def test_score_is_the_max_over_latents_of_the_cosine():
    video = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # one video, two latents
    text = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    s = max_cosine(video, text)
    torch.testing.assert_close(s, torch.tensor([[1.0, 2**-0.5]]))
