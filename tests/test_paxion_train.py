"""Training: reversed views by flipping = a second pass, resume = the same trajectory, checkpoints, entries, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from _synthetic import make_split

from actionbench.models.protocol import ModelError
from paxion_models.backbones import build_backbone
from paxion_models.backbones.mini import MiniBackbone, MiniConfig, WordTokenizer
from paxion_models.checkpoints import load_checkpoint
from paxion_models.data import TrainingDataError, load_training_set
from paxion_models.train import TrainConfig, state_change_heuristic, train_head

FAST = dict(batch_size=8, lr=1e-3, amp=False, seed=3)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("synthetic")
    train = make_split(root, "train", 16, seed=0)
    val = make_split(root, "val", 8, seed=0)
    texts = load_training_set([train]).texts()
    torch.manual_seed(0)
    backbone = MiniBackbone(MiniConfig(image_size=32, vocab=WordTokenizer.from_texts(texts).vocab))
    ckpt = backbone.save(root / "mini.safetensors")
    return {"root": root, "train": [train], "val": val, "backbone": str(ckpt)}


def mini(data):
    return build_backbone("mini", checkpoint=data["backbone"])


def test_training_items_are_the_clips_with_an_antonym_and_missing_videos_are_counted(data, tmp_path):
    ts = load_training_set(data["train"])
    assert len(ts.items) == 16 and all(i.antonym and i.antonym != i.text for i in ts.items)
    probes, _ = data["train"][0]
    with pytest.raises(TrainingDataError, match="16 video missing"):
        load_training_set([(probes, tmp_path / "nowhere")])


def test_atm_by_flipping_gives_the_loss_of_a_second_backbone_pass(data, tmp_path):
    runs = {}
    for how in ("flip", "pass"):
        cfg = TrainConfig(objectives="vtc,vac,atm", steps=2, reverse_by=how, **FAST)
        runs[how] = train_head(mini(data), data["train"], tmp_path / how, cfg, progress=False).history
    for a, b in zip(runs["flip"], runs["pass"], strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-5 and abs(a["atm"] - b["atm"]) < 1e-5


def test_a_killed_and_resumed_run_follows_the_same_loss_trajectory(data, tmp_path):
    cfg = TrainConfig(objectives="vtc,vac,atm", steps=6, **FAST)
    straight = train_head(mini(data), data["train"], tmp_path / "straight", cfg, progress=False).history
    train_head(mini(data), data["train"], tmp_path / "resumed", cfg, stop_after=3, progress=False)
    resumed = train_head(mini(data), data["train"], tmp_path / "resumed", cfg, progress=False).history
    assert [h["step"] for h in resumed] == list(range(6))
    assert [h["loss"] for h in resumed] == pytest.approx([h["loss"] for h in straight], abs=1e-6)


def test_resuming_with_another_config_is_refused(data, tmp_path):
    train_head(mini(data), data["train"], tmp_path, TrainConfig(steps=1, **FAST), progress=False)
    with pytest.raises(ValueError, match="different config"):
        train_head(mini(data), data["train"], tmp_path, TrainConfig(steps=2, **FAST), progress=False)


def test_cached_features_train_like_features_computed_per_batch(data, tmp_path):
    a = train_head(mini(data), data["train"], tmp_path / "a", TrainConfig(objectives="vtc,atm", steps=2, **FAST), progress=False)
    b = train_head(mini(data), data["train"], tmp_path / "b", TrainConfig(objectives="vtc,atm", steps=2, cache_features=True, **FAST),
                   cache_dir=tmp_path / "cache", progress=False)  # fmt: skip
    assert [h["loss"] for h in a.history] == pytest.approx([h["loss"] for h in b.history], abs=1e-5)
    assert list((tmp_path / "cache").glob("features-*.safetensors"))


def test_the_feature_cache_is_not_served_for_a_replaced_video(data, tmp_path):
    """A regenerated benchmark keeps its video paths: cached features must follow the files, not the names."""
    import dataclasses
    import shutil

    from actionbench.video import FrameSpec
    from paxion_models.features import FeatureSource

    items = []
    for i, item in enumerate(load_training_set(data["train"]).items[:2]):
        shutil.copy(item.video, tmp_path / f"{i}{item.video.suffix}")
        items.append(dataclasses.replace(item, video=tmp_path / f"{i}{item.video.suffix}"))

    def tokens() -> torch.Tensor:
        source = FeatureSource(mini(data), items, FrameSpec(), torch.device("cpu"), need_reversed=False, need_global=True,
                               cache=True, cache_dir=tmp_path / "cache")  # fmt: skip
        return source.table["tokens"]

    before = tokens()
    torch.testing.assert_close(tokens(), before)  # served from the cache
    shutil.copy(items[1].video, items[0].video)  # clip 0's file now holds clip 1's video
    after = tokens()
    torch.testing.assert_close(after[0], after[1])
    assert not torch.allclose(after[0], before[0])
    assert len(list((tmp_path / "cache").glob("features-*.safetensors"))) == 2


def test_checkpoint_holds_only_the_head_and_its_config_and_loads_as_a_registry_entry(data, tmp_path):
    from actionbench.models.registry import create_model

    result = train_head(mini(data), data["train"], tmp_path, TrainConfig(objectives="vtc", steps=1, **FAST), progress=False)
    weights, config = load_checkpoint(result.checkpoint)
    assert all(k.startswith(("net.", "temperature.")) for k in weights)
    assert sum(v.numel() for v in weights.values()) == result.trainable_params
    assert config["backbone"]["name"] == "mini" and config["objectives"] == ["vtc"]
    model = create_model("kp-perceiver-vtc-mini", {"checkpoint": str(result.checkpoint)})
    assert model.order_invariant is False
    x = torch.randn(2, 8, 3, 32, 32)
    with torch.no_grad():
        fwd, rev = model.encode_videos_and_reversed(x)
        torch.testing.assert_close(fwd, model.encode_videos(x))
        torch.testing.assert_close(rev, model.encode_videos(torch.flip(x, dims=[1])), atol=1e-5, rtol=0)
        s = model.similarity(fwd, model.encode_texts(["moving red box from left to right"]))
    assert s.shape == (2, 1)
    with pytest.raises(ModelError, match="trained with vtc"):
        create_model("kp-perceiver-vtc-dvdm-mini", {"checkpoint": str(result.checkpoint)})
    with pytest.raises(ModelError, match="perceiver head"):
        create_model("paxion-mini", {"checkpoint": str(result.checkpoint)})


def test_transformer_patcher_entry_declares_itself_order_invariant(data, tmp_path):
    from actionbench.models.registry import create_model

    cfg = TrainConfig(variant="transformer", objectives="vtc", steps=1, patcher_overrides={"heads": 4}, **FAST)
    result = train_head(mini(data), data["train"], tmp_path, cfg, progress=False)
    model = create_model("kp-transformer-vtc-mini", {"checkpoint": str(result.checkpoint)})
    assert model.order_invariant is True  # no temporal embedding on frame-separable tokens: reported, not patched


def test_fuser_and_sidetuning_train_on_a_patcher_jointly_or_frozen(data, tmp_path):
    from actionbench.models.registry import create_model

    patcher = train_head(mini(data), data["train"], tmp_path / "kp", TrainConfig(objectives="vtc,vac,atm", steps=1, **FAST),
                         progress=False).checkpoint  # fmt: skip
    frozen = train_head(mini(data), data["train"], tmp_path / "fuser", TrainConfig(variant="xattn", steps=2, freeze_patcher=True, **FAST),
                        patcher_checkpoint=patcher, progress=False)  # fmt: skip
    weights, _ = load_checkpoint(frozen.checkpoint)
    kp, _ = load_checkpoint(patcher)
    torch.testing.assert_close(weights["net.patcher.latents"], kp["net.latents"])  # frozen: unchanged
    joint = train_head(mini(data), data["train"], tmp_path / "side", TrainConfig(variant="side-tuning", steps=2, **FAST),
                       patcher_checkpoint=patcher, progress=False)  # fmt: skip
    assert not torch.equal(load_checkpoint(joint.checkpoint)[0]["net.patcher.latents"], kp["net.latents"])
    assert create_model("paxion-mini", {"checkpoint": str(frozen.checkpoint)}).order_invariant is False
    assert create_model("sidetuning-mini", {"checkpoint": str(joint.checkpoint)}).encode_videos(torch.randn(1, 8, 3, 32, 32)).shape == (1, 1, 64)


def test_state_change_gating_from_a_flags_file_and_the_heuristic(data, tmp_path):
    ts = load_training_set(data["train"])
    flags = {i.clip_id: {"if_keep": n % 2 == 0} for n, i in enumerate(ts.items)}
    (tmp_path / "flags.json").write_text(json.dumps(flags))
    result = train_head(mini(data), data["train"], tmp_path / "run", TrainConfig(objectives="vtc,atm", steps=2,
                        atm_gating=str(tmp_path / "flags.json"), **FAST), progress=False)  # fmt: skip
    assert result.history[-1]["atm"] > 0
    still = torch.ones(1, 8, 4, 16)
    moving = torch.cat([torch.ones(1, 4, 4, 16), -torch.ones(1, 4, 4, 16)], dim=1)
    assert state_change_heuristic(torch.cat([still, moving]), 0.95).tolist() == [False, True]


def test_train_patcher_command(data, tmp_path):
    from typer.testing import CliRunner

    from paxion_models.commands import app

    probes, videos = data["train"][0]
    result = CliRunner().invoke(app, ["patcher", "--backbone", "mini", "--backbone-checkpoint", data["backbone"],
                                      "--probes", str(probes), "--videos", str(videos), "--objectives", "vtc,vac,atm",
                                      "--steps", "2", "--batch-size", "8", "--out", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "checkpoint.safetensors").is_file() and "trainable parameters" in result.output
    bad = CliRunner().invoke(app, ["patcher", "--backbone", "mini", "--probes", str(probes), "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0


@pytest.mark.slow
def test_mini_backbone_training_separates_antonym_captions(data, tmp_path):
    from paxion_models.backbones.mini import cosine
    from paxion_models.train_mini import MiniTrainConfig, train_mini_backbone

    result = train_mini_backbone(data["train"], tmp_path, MiniTrainConfig(steps=100, batch_size=8, image_size=32), progress=False)
    backbone = build_backbone("mini", checkpoint=str(result.checkpoint))
    assert cosine(backbone, "moving red box from left to right", "moving red box from right to left") < 0.9


def test_the_mini_recipe_hands_its_decoded_frames_to_the_patcher_run(data, tmp_path):
    """The recipe decodes the training clips once: the mini backbone's frames feed the patcher's feature cache."""
    from actionbench.video import FrameSpec
    from paxion_models.data import load_clip
    from paxion_models.train_mini import MiniTrainConfig, train_mini_backbone

    result = train_mini_backbone(data["train"], tmp_path / "bb", MiniTrainConfig(steps=1, batch_size=8, num_workers=2), progress=False)
    backbone = build_backbone("mini", checkpoint=str(result.checkpoint))
    items = load_training_set(data["train"]).items
    decoded = torch.stack([load_clip(i, FrameSpec(num_frames=8), backbone.preprocess) for i in items])
    torch.testing.assert_close(result.decoded(items), decoded, atol=1 / 255, rtol=0)  # kept as uint8 pixels
    cfg = TrainConfig(objectives="vtc,atm", steps=2, cache_features=True, **FAST)
    runs = [train_head(backbone, data["train"], tmp_path / name, cfg, cache_dir=tmp_path / name / "cache", progress=False,
                       decoded=result.decoded if name == "given" else None) for name in ("given", "decoding")]  # fmt: skip
    assert runs[0].history[-1]["loss"] == pytest.approx(runs[1].history[-1]["loss"], abs=1e-4)


def test_demo_bundles_group_under_the_mini_backbone(tmp_path):
    from actionbench.leaderboard.submission import load_submission
    from paxion_models.demo import write_submission

    labels = {}
    for order, model in enumerate(("mini", "blind:mini", "kp-perceiver-vtc-dvdm-mini", "last-frame:kp-perceiver-vtc-dvdm-mini")):
        write_submission(tmp_path, model, order)
        submission = load_submission(tmp_path / "submission.json")  # schema-checked
        assert submission.backbone == "mini" and submission.source == "measured" and submission.table_order == order
        labels[model] = submission.method_label
    assert labels == {"mini": "Backbone", "blind:mini": "blind control", "kp-perceiver-vtc-dvdm-mini": "KP-Perceiver [VTC+DVDM]",
                      "last-frame:kp-perceiver-vtc-dvdm-mini": "KP-Perceiver [VTC+DVDM], last-frame control"}  # fmt: skip
