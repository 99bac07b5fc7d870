"""VTC, VAC and ATM: the formulas, the gradients each gives, the temperature, and DDP = one process."""

from __future__ import annotations

import math
import os
import socket

import pytest
import torch
import torch.nn.functional as F

from paxion_models.backbones.base import VideoFeatures
from paxion_models.losses import Objectives, Temperature, paxion_loss
from paxion_models.patcher import PerceiverConfig, PerceiverPatcher
from paxion_models.train import param_groups

ALL = Objectives(("vtc", "vac", "atm"))


def unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


def batch(b=4, q=1, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, q, d, generator=g), torch.randn(b, d, generator=g), torch.randn(b, d, generator=g),
            torch.randn(b, q, d, generator=g))  # fmt: skip


def test_vtc_is_symmetric_infonce_with_label_smoothing():
    video, text, _, _ = batch()
    scale = torch.tensor(10.0)
    out = paxion_loss(video, text, scale, Objectives(("vtc",)))
    s = unit(video[:, 0]) @ unit(text).T * 10
    target = torch.arange(4)
    expected = 0.5 * (F.cross_entropy(s, target, label_smoothing=0.1) + F.cross_entropy(s.T, target, label_smoothing=0.1))
    torch.testing.assert_close(out.total, expected)


def test_vac_appends_antonyms_as_negatives_on_the_video_to_text_side_only():
    video, text, antonym, _ = batch()
    out = paxion_loss(video, text, torch.tensor(10.0), Objectives(("vtc", "vac")), antonym=antonym)
    v, t, a = unit(video[:, 0]), unit(text), unit(antonym)
    v2t = v @ torch.cat([t, a]).T * 10  # [B, 2B]
    t2v = t @ v.T * 10
    target = torch.arange(4)
    expected = 0.5 * (F.cross_entropy(v2t, target, label_smoothing=0.1) + F.cross_entropy(t2v, target, label_smoothing=0.1))
    torch.testing.assert_close(out.total, expected)


def test_vac_leaves_out_clips_without_an_antonym():
    video, text, antonym, _ = batch()
    mask = torch.tensor([True, False, True, True])
    out = paxion_loss(video, text, torch.tensor(10.0), Objectives(("vtc", "vac")), antonym=antonym, antonym_mask=mask)
    v, t, a = unit(video[:, 0]), unit(text), unit(antonym[mask])
    v2t = v @ torch.cat([t, a]).T * 10
    target = torch.arange(4)
    expected = 0.5 * (F.cross_entropy(v2t, target, label_smoothing=0.1) + F.cross_entropy(v2t[:, :4].T, target, label_smoothing=0.1))
    torch.testing.assert_close(out.total, expected)


def test_atm_is_a_two_way_choice_between_the_video_and_its_reversal_weighted_0_4():
    video, text, antonym, rev = batch()
    with_atm = paxion_loss(video, text, torch.tensor(10.0), Objectives(("vtc", "atm")), video_reversed=rev)
    without = paxion_loss(video, text, torch.tensor(10.0), Objectives(("vtc",)))
    s_fwd = (unit(video[:, 0]) * unit(text)).sum(-1) * 10
    s_rev = (unit(rev[:, 0]) * unit(text)).sum(-1) * 10
    atm = F.cross_entropy(torch.stack([s_fwd, s_rev], 1), torch.zeros(4, dtype=torch.long), label_smoothing=0.1)
    torch.testing.assert_close(with_atm.total, without.total + 0.4 * atm)


def test_atm_gating_uses_only_flagged_clips_and_survives_a_batch_with_none():
    video, text, antonym, rev = batch()
    vtc = paxion_loss(video, text, torch.tensor(10.0), Objectives(("vtc",))).total
    none = paxion_loss(video, text, torch.tensor(10.0), Objectives(("vtc", "atm")), video_reversed=rev,
                       atm_mask=torch.zeros(4, dtype=torch.bool))  # fmt: skip
    torch.testing.assert_close(none.total, vtc)
    one = paxion_loss(video, text, torch.tensor(10.0), Objectives(("vtc", "atm")), video_reversed=rev,
                      atm_mask=torch.tensor([False, True, False, False]))  # fmt: skip
    s = torch.stack([(unit(video[1, 0]) * unit(text[1])).sum(), (unit(rev[1, 0]) * unit(text[1])).sum()]) * 10
    torch.testing.assert_close(one.parts["atm"], F.cross_entropy(s[None], torch.zeros(1, dtype=torch.long), label_smoothing=0.1))


def _grads(loss: torch.Tensor, patcher: PerceiverPatcher, tau: Temperature) -> dict[str, float]:
    patcher.zero_grad()
    tau.zero_grad()
    loss.backward()
    named = dict(patcher.named_parameters()) | {"tau": tau.log_tau}
    return {k: 0.0 if p.grad is None else float(p.grad.abs().sum()) for k, p in named.items()}


def test_each_objective_gives_gradient_to_what_it_should_train():
    torch.manual_seed(0)
    patcher = PerceiverPatcher(PerceiverConfig(dim=8, media_dim=12, num_frames=4, temporal_dropout=0.0))
    tau = Temperature()
    f = VideoFeatures(torch.randn(4, 8), torch.randn(4, 4, 3, 12))
    rev = VideoFeatures(f.global_vec, torch.flip(f.patch_tokens, dims=[1]))
    text, antonym = torch.randn(4, 8), torch.randn(4, 8)
    vtc = paxion_loss(patcher(f), text, tau(), Objectives(("vtc",)))
    g = _grads(vtc.total, patcher, tau)
    assert g["latents"] > 0 and g["tau"] > 0 and g["layers.0.0.to_kv.weight"] > 0
    vac_only = paxion_loss(patcher(f), text, tau(), Objectives(("vtc", "vac")), antonym=antonym).total - paxion_loss(
        patcher(f), text, tau(), Objectives(("vtc",))).total
    assert _grads(vac_only, patcher, tau)["latents"] > 0
    out = paxion_loss(patcher(torch_cat(f, rev))[:4], text, tau(), ALL, antonym=antonym, video_reversed=patcher(rev))
    atm_only = out.parts["atm"]
    assert atm_only.requires_grad is False  # logged copy
    both = patcher(torch_cat(f, rev))
    atm = paxion_loss(both[:4], text, tau(), Objectives(("vtc", "atm")), video_reversed=both[4:]).total - paxion_loss(
        both[:4], text, tau(), Objectives(("vtc",))).total
    assert _grads(atm, patcher, tau)["temporal"] > 0  # ATM trains the temporal embedding


def torch_cat(a: VideoFeatures, b: VideoFeatures) -> VideoFeatures:
    return VideoFeatures(torch.cat([a.global_vec, b.global_vec]), torch.cat([a.patch_tokens, b.patch_tokens]))


def test_temperature_is_log_parametrised_and_clamped():
    tau = Temperature(0.07)
    assert math.isclose(tau().item(), 1 / 0.07, rel_tol=1e-5)
    with torch.no_grad():
        tau.log_tau.fill_(-50.0)
    assert math.isclose(tau().item(), 100.0, rel_tol=1e-5)  # tau >= 0.01


def test_no_weight_decay_on_temperature_layernorms_latents_or_temporal_embedding():
    patcher = PerceiverPatcher(PerceiverConfig(dim=8, media_dim=12))
    model = torch.nn.ModuleDict({"net": patcher, "temperature": Temperature()})
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    exempt = {names[id(p)] for p in no_decay["params"]}
    assert {"temperature.log_tau", "net.latents", "net.temporal", "net.norm.weight", "net.norm.bias"} <= exempt
    assert all(names[id(p)].endswith("weight") and "norm" not in names[id(p)] for p in decay["params"])
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0


def test_objectives_parse_and_refuse_unknown_names():
    assert Objectives.parse("vtc, vac,atm").label == "VTC+DVDM"
    with pytest.raises(ValueError, match="unknown"):
        Objectives.parse("vtc,fdm")
    with pytest.raises(ValueError):
        Objectives.parse("atm")


# ---------------------------------------------------------------- DDP (gather with gradient) = one process


def _ddp_worker(rank: int, world: int, port: int, queue) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    loss, grads = _loss_and_grads(slice(rank * 4, rank * 4 + 4))
    dist.all_reduce(loss)
    for g in grads:
        dist.all_reduce(g)  # what DDP does: the mean over ranks
    queue.put((rank, float(loss) / world, [(g / world).numpy() for g in grads]))  # arrays: no shared fds
    dist.destroy_process_group()


def _loss_and_grads(rows: slice):
    torch.manual_seed(0)
    patcher = PerceiverPatcher(PerceiverConfig(dim=8, media_dim=12, num_frames=4, temporal_dropout=0.0))
    tau = Temperature()
    g = torch.Generator().manual_seed(1)
    tokens, text, antonym = torch.randn(8, 4, 3, 12, generator=g), torch.randn(8, 8, generator=g), torch.randn(8, 8, generator=g)
    mask = torch.tensor([True, False, True, True, False, True, True, True])
    tokens, text, antonym, mask = tokens[rows], text[rows], antonym[rows], mask[rows]
    both = patcher(VideoFeatures(torch.zeros(1), torch.cat([tokens, torch.flip(tokens, dims=[1])])))
    video, rev = both.chunk(2)
    out = paxion_loss(video, text, tau(), ALL, antonym=antonym, video_reversed=rev, atm_mask=mask)
    params = list(patcher.parameters()) + [tau.log_tau]
    grads = torch.autograd.grad(out.total, params)
    return out.total.detach(), [gr.detach() for gr in grads]


@pytest.mark.slow
def test_two_ddp_ranks_give_the_loss_and_gradients_of_one_process_on_the_global_batch():
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_ddp_worker, args=(r, 2, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    loss, grads = _loss_and_grads(slice(0, 8))
    for _, ddp_loss, ddp_grads in results:
        assert math.isclose(ddp_loss, float(loss), rel_tol=1e-5)
        for a, b in zip(ddp_grads, grads, strict=True):
            torch.testing.assert_close(torch.from_numpy(a), b, atol=1e-6, rtol=1e-4)
