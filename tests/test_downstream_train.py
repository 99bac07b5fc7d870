"""Training for the downstream tasks: the MC-QA loss and VAC's padded candidates, VTC with caption positives, which
parameters each head's training changes, the `train downstream` command's errors, and the demo's downstream stage."""

from __future__ import annotations

import csv
import json
import math
import sys

import pytest
import torch
import torch.nn.functional as F
from _synthetic import make_split

from actionbench.datasets.downstream_set import build
from paxion_models.backbones import build_backbone
from paxion_models.backbones.mini import MiniBackbone, MiniConfig, WordTokenizer
from paxion_models.checkpoints import load_checkpoint
from paxion_models.data import TrainingDataError, load_training_set
from paxion_models.downstream import downstream_config, train_downstream
from paxion_models.losses import Objectives, mcqa_loss, pad_antonym_choices, paxion_loss
from paxion_models.train import TrainConfig, train_head

FAST = dict(batch_size=8, lr=1e-2, amp=False, seed=3, steps=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """16 synthetic clips: their probe set, a mini backbone, a trained patcher, and the same clips as an SSv2-label
    train file and a NExT-QA-format question file (with antonym choices), built into downstream sets."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("downstream-train")
    probes, videos = make_split(root, "train", 16, seed=0)
    ts = load_training_set([(probes, videos)])
    label = [{"video": f"{i.clip_id}.mp4", "caption": i.text} for i in reversed(ts.items)]  # not in clip order
    (root / "label.json").write_text(json.dumps(label))
    with open(root / "qa.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", "question", "answer", "qid", "type", "a0", "a1", "a2", "a3", "a4", "action_antonym_choices"])
        for k, i in enumerate(ts.items):
            choices = [i.antonym, "a red ball", "a green cup", "a blue pen", "a yellow hat"]
            choices.insert(k % 5, i.text)
            choices = choices[:5] if i.text in choices[:5] else [i.text, *choices[:4]]
            w.writerow([i.clip_id, "what happens", choices.index(i.text), 0, "TC", *choices, repr([i.antonym])])
    (root / "map.json").write_text(json.dumps({i.clip_id: f"{i.clip_id}.mp4" for i in ts.items}))
    texts = ts.texts() + ["what happens? a red ball"]
    torch.manual_seed(0)
    backbone = MiniBackbone(MiniConfig(image_size=32, vocab=WordTokenizer.from_texts(texts).vocab))
    ckpt = backbone.save(root / "mini.safetensors")
    kp = train_head(build_backbone("mini", checkpoint=str(ckpt)), [(probes, videos)], root / "kp",
                    TrainConfig(objectives="vtc,vac,atm", **FAST), progress=False).checkpoint  # fmt: skip
    sets = {"label": build("ssv2_label", root / "label.json", split="train").save(root / "label-set"),
            "qa": build("nextqa", root / "qa.csv", video_map=root / "map.json", split="train").save(root / "qa-set")}
    return {"root": root, "videos": videos, "backbone": str(ckpt), "kp": kp, **sets}


# ---------------------------------------------------------------------------------------------- the losses


def test_vac_pads_the_antonym_choices_with_the_wrong_answers_to_five():
    choices = ["a0", "a1", "a2", "a3", "a4"]
    assert pad_antonym_choices(choices, 2, ["x", "y"]) == ["x", "y", "a0", "a1", "a3"]
    assert pad_antonym_choices(choices, 0, []) == ["a1", "a2", "a3", "a4", "a1"]
    assert pad_antonym_choices(choices, 4, list("uvwxyz")) == list("uvwxy")


def test_mcqa_loss_is_smoothed_cross_entropy_over_the_ten_candidates_by_hand():
    # one question, one latent, 2-d vectors: the cosines are the candidates' first coordinates
    video = torch.tensor([[[1.0, 0.0]]])
    angles = [0.0, math.pi / 2, math.pi, math.pi / 3, 2 * math.pi / 3] * 2  # 5 choices + 5 padded antonym choices
    candidates = torch.tensor([[[math.cos(a), math.sin(a)] for a in angles]])
    cos = [math.cos(a) for a in angles]
    scale, eps, answer = 10.0, 0.1, 0
    logz = math.log(sum(math.exp(scale * c) for c in cos))
    logp = [scale * c - logz for c in cos]
    expected = -(1 - eps) * logp[answer] - eps / len(cos) * sum(logp)
    out = mcqa_loss(video, candidates, torch.tensor([answer]), torch.tensor(scale), eps)
    assert out.total.item() == pytest.approx(expected, rel=1e-5)
    plain = mcqa_loss(video, candidates[:, :5], torch.tensor([answer]), torch.tensor(scale), 0.0)  # KP-Transformer
    assert plain.total.item() == pytest.approx(-(scale * cos[0] - math.log(sum(math.exp(scale * c) for c in cos[:5]))),
                                               abs=1e-6)  # fmt: skip


def test_vtc_with_caption_positives_spreads_the_target_over_clips_that_share_a_caption():
    g = torch.Generator().manual_seed(0)
    video, text = torch.randn(3, 1, 4, generator=g), torch.randn(3, 4, generator=g)
    text[1] = text[0]  # clips 0 and 1 share a caption
    out = paxion_loss(video, text, torch.tensor(5.0), Objectives(("vtc",)), caption_ids=torch.tensor([7, 7, 2]))
    s = F.normalize(video[:, 0], dim=-1) @ F.normalize(text, dim=-1).T * 5
    target = torch.tensor([[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1.0]])
    expected = 0.5 * (F.cross_entropy(s, target, label_smoothing=0.1) + F.cross_entropy(s.T, target, label_smoothing=0.1))
    torch.testing.assert_close(out.total, expected)


# --------------------------------------------------------------------------------------------- the training


def _weights(path):
    return load_checkpoint(path)[0]


def test_patch_and_fuse_trains_fuser_and_patcher_and_never_the_backbone(data, tmp_path):
    backbone = build_backbone("mini", checkpoint=data["backbone"])
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    cfg = downstream_config("patch-and-fuse", "ssv2_label", **FAST)
    result = train_downstream("patch-and-fuse", data["label"], data["videos"], tmp_path / "pf", cfg, backbone=backbone,
                              patcher=data["kp"], progress=False)  # fmt: skip
    w, kp = _weights(result.checkpoint), _weights(data["kp"])
    assert not torch.equal(w["net.patcher.latents"], kp["net.latents"])  # the patcher trains jointly
    assert any(k.startswith("net.attn.") for k in w) and not any(k.startswith("backbone") for k in w)
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())  # frozen
    assert not any(p.requires_grad for p in backbone.parameters())
    config = load_checkpoint(result.checkpoint)[1]
    assert config["downstream"] == "ssv2_label" and config["patcher_init"]["objectives"] == ["vtc", "vac", "atm"]
    assert config["train"]["positives"] == "caption" and config["trained_on"][0]["set_id"]


def test_a_label_set_over_the_patchers_clips_reuses_its_cached_features(data):
    from actionbench.datasets.downstream_set import DownstreamSet
    from paxion_models.data import downstream_training_set

    label = downstream_training_set(DownstreamSet.load(data["label"]), data["videos"]).items
    probes = load_training_set([(data["root"] / "probes-train", data["videos"])]).items
    assert [(i.clip_id, i.video, i.start, i.end) for i in label] == [(i.clip_id, i.video, i.start, i.end) for i in probes]
    qa = downstream_training_set(DownstreamSet.load(data["qa"]), data["videos"]).items
    assert all(len(i.choices) == 5 and len(i.antonym_choices) == 5 and i.text == i.choices[i.answer] for i in qa)


def test_side_tuning_learns_its_mix_and_kp_fine_tuning_starts_from_the_patcher(data, tmp_path):
    from actionbench.models.registry import create_model

    side = train_downstream("side-tuning", data["label"], data["videos"], tmp_path / "st",
                            downstream_config("side-tuning", "ssv2_label", **FAST), patcher=data["kp"], progress=False)  # fmt: skip
    assert _weights(side.checkpoint)["net.alpha"].item() != 0.0  # α starts at 0
    ft = train_downstream("kp-perceiver-ft", data["label"], data["videos"], tmp_path / "ft",
                          downstream_config("kp-perceiver-ft", "ssv2_label", **{**FAST, "steps": 0}), patcher=data["kp"],
                          progress=False)  # fmt: skip
    assert all(torch.equal(v, _weights(data["kp"])[k]) for k, v in _weights(ft.checkpoint).items())  # step 0 = the init
    # the registry entry of the patcher loss it started from takes it; the other refuses it
    assert create_model("kp-perceiver-vtc-dvdm-mini", {"checkpoint": str(ft.checkpoint)}) is not None
    with pytest.raises(Exception, match="trained with vtc\\+vac\\+atm"):
        create_model("kp-perceiver-vtc-mini", {"checkpoint": str(ft.checkpoint)})


def test_mcqa_training_with_vac_uses_ten_candidates_and_transformer_has_no_smoothing(data, tmp_path):
    cfg = downstream_config("kp-perceiver-ft", "nextqa", vac=True, **FAST)
    assert (cfg.objectives, cfg.label_smoothing, cfg.temporal_embedding, cfg.epochs) == ("mcqa,vac", 0.1, False, 1)
    assert downstream_config("kp-transformer-ft", "nextqa").label_smoothing == 0.0
    assert (downstream_config("patch-and-fuse", "nextqa").epochs, downstream_config("kp-perceiver-ft", "nextqa").epochs) == (4, 5)
    backbone = build_backbone("mini", checkpoint=data["backbone"])
    result = train_downstream("kp-perceiver-ft", data["qa"], data["videos"], tmp_path / "qa", cfg, backbone=backbone,
                              progress=False)  # fmt: skip
    assert result.history[-1]["mcqa"] > 0 and "qa_acc" in result.history[-1]
    with pytest.raises(TrainingDataError, match="mcqa"):  # questions need the MC-QA loss
        train_downstream("kp-perceiver-ft", data["qa"], data["videos"], tmp_path / "x", replace_objectives(cfg, "vtc"),
                         backbone=backbone, progress=False)  # fmt: skip


def replace_objectives(cfg, objectives):
    from dataclasses import replace

    return replace(cfg, objectives=objectives, downstream=None)


def test_train_downstream_command_trains_and_refuses_bad_input_in_one_line(data, tmp_path, monkeypatch, capsys):
    from actionbench.cli import main

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["actionbench", "train", "downstream", *args])
        try:
            main()
        except SystemExit as e:
            return e.code, capsys.readouterr()
        return 0, capsys.readouterr()

    common = ["--videos", str(data["videos"]), "--batch-size", "8", "--steps", "1"]
    code, out = run("--head", "patch-and-fuse", "--patcher", str(data["kp"]), "--dataset", "ssv2_label", "--annotations",
                    str(data["root"] / "label.json"), "--out", str(tmp_path / "ok"), *common)  # fmt: skip
    assert code == 0, out.err
    assert (tmp_path / "ok" / "checkpoint.safetensors").is_file() and "paxion-mini" in out.out
    (tmp_path / "bad.json").write_text('[{"video": "a.mp4"}]')
    for args, message in [
        (["--head", "paxion", "--set", str(data["label"])], "--head 'paxion'"),
        (["--head", "patch-and-fuse", "--set", str(data["label"])], "--patcher"),
        (["--head", "kp-perceiver-ft", "--patcher", str(data["kp"])], "--set DIR"),
        (["--head", "kp-perceiver-ft", "--patcher", str(data["kp"]), "--dataset", "ssv2_label", "--annotations",
          str(tmp_path / "bad.json")], "bad.json: item 0"),
        (["--head", "kp-perceiver-ft", "--patcher", str(data["kp"]), "--dataset", "temporal_ssv2", "--annotations",
          str(data["root"] / "label.json")], "no training recipe for 'temporal_ssv2'"),
        (["--head", "kp-perceiver-ft", "--patcher", str(data["kp"]), "--set", str(data["label"]), "--vac"], "VAC"),
    ]:  # fmt: skip
        code, out = run(*args, "--out", str(tmp_path / "x"), *common)
        assert code == 2, (args, out)
        text = out.err + out.out
        assert message in text and "Traceback" not in text, (args, text)


# ------------------------------------------------------------------------------------------------- the demo


@pytest.mark.slow
def test_the_demos_downstream_stage_trains_scores_and_writes_its_table(tmp_path, monkeypatch):
    from dataclasses import replace

    from rich.console import Console

    import paxion_models.recipes as recipes
    from actionbench import demo

    monkeypatch.setattr(recipes, "MINI_BACKBONE", replace(recipes.MINI_BACKBONE, steps=3, batch_size=8, num_workers=0))
    monkeypatch.setattr(recipes, "MINI_PATCHER", replace(recipes.MINI_PATCHER, steps=3, batch_size=8, num_workers=0))
    monkeypatch.setitem(recipes.MINI_DOWNSTREAM, "steps", 3)
    monkeypatch.setitem(recipes.MINI_DOWNSTREAM, "batch_size", 8)
    monkeypatch.setitem(recipes.MINI_DOWNSTREAM, "num_workers", 0)
    monkeypatch.setattr(demo, "builtin_rows", lambda: [("chance", "chance", {}, None)])
    files = demo.run_demo(tmp_path, size="tiny", console=Console(quiet=True))
    table = (tmp_path / demo.DOWNSTREAM_FILE).read_text()
    assert tmp_path / demo.DOWNSTREAM_FILE in files
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in lines[1:]] == ["| Backbone (frozen mini)", "| KP-Perceiver FT [VTC]",
                                                             "| Patch-and-Fuse [VTC+DVDM]"]  # fmt: skip
    assert "label R@1 v2t" in lines[0] and "QA T" in lines[0] and all(c.strip() != "-" for c in lines[1].split(" | ")[1:])
    assert table in (tmp_path / "leaderboard.md").read_text()
    # the downstream bundles validate and draw Table 2 under the mini backbone, named as the paper names its rows
    from typer.testing import CliRunner

    import actionbench.cli.leaderboard  # noqa: F401  (registers the commands)
    from actionbench.cli import app

    runner = CliRunner()
    runs, sets = str(tmp_path / demo.DOWNSTREAM_RUNS), str(tmp_path / "downstream")
    assert runner.invoke(app, ["leaderboard", "validate", runs, "--probes-root", sets]).exit_code == 0
    drawn = runner.invoke(app, ["leaderboard", "render", runs, "--table", "2", "--probes-root", sets])
    assert drawn.exit_code == 0, drawn.output
    for row in ("mini Backbone (measured)", "KP-Perceiver FT [VTC] (measured)", "Patch-and-Fuse [VTC+DVDM] (measured)"):
        assert f"| {row} |" in drawn.output


def test_query_credits_feed_the_paired_bootstrap_per_query():
    from actionbench.metrics import paired_bootstrap
    from paxion_models.downstream import query_credits

    def rows(above):  # one v2t row per query; query q is a hit at 1 when nothing wrong ranks above it
        return [{"direction": "v2t", "query": f"v{q}", "above": a, "tied_wrong": 0, "tied_right": 1}
                for q, a in enumerate(above)] + [{"direction": "t2v", "query": "t0", "above": 0, "tied_wrong": 1,
                                                  "tied_right": 1}]  # fmt: skip
    better, worse = query_credits(rows([0] * 30), "v2t"), query_credits(rows([0] * 10 + [3] * 20), "v2t")
    assert [r["decision"] for r in worse[9:11]] == [1.0, 0.0] and len(better) == 30
    assert query_credits(rows([0]), "t2v")[0]["decision"] == 0.5  # a tie with one wrong text: half a hit
    cmp = paired_bootstrap(better, worse, seed=0)
    assert cmp["diff"] == pytest.approx(100 * 20 / 30) and cmp["ci95"][0] > 0
