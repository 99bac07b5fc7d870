"""The runner: same decisions whatever the batching or worker count, embeddings reused, resumable after
SIGKILL, missing videos and misbehaving models reported, not hidden."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from _evalkit import HERE, make_suite, write_tiny_config

from actionbench.bundle import check_results, read_bundle
from actionbench.models.protocol import ModelError
from actionbench.runner import SUBSET_RULE, MissingVideosError, evaluate

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    probes, videos = make_suite(root, n_clips=10)
    return probes, videos, write_tiny_config(root)


def clip_name(config: Path) -> str:
    return f"clip:{config}"


def ordered(config: Path) -> tuple[str, dict]:
    """The order-sensitive tiny CLIP, by file factory: VR needs a reversed pass."""
    return f"{HERE.parent / '_evalkit.py'}:ordered_clip", {"config": str(config)}


def run(model, suite, tmp_path, *, args=None, **kw):
    probes, videos, _ = suite
    kw.setdefault("cache", False)
    return evaluate(model, [probes], [videos], model_args=args, **kw)


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Identical probes and decisions, scores within 1e-6."""
    assert list(a.probe_id) == list(b.probe_id)
    assert list(a.decision) == list(b.decision)
    assert list(a.tie) == list(b.tie)
    assert (a.s_true - b.s_true).abs().max() <= 1e-6
    assert (a.s_foil - b.s_foil).abs().max() <= 1e-6


def n_texts(probes: Path) -> int:
    from actionbench.probes.schema import ProbeSet

    return len({t for p in ProbeSet.load(probes).probes for t in (p.text, p.foil_text) if t})


def committed_rows(batch_file: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(batch_file), framework="pt") as f:
        return len(json.loads(f.metadata()["keys"]))


def calls(log: Path) -> list[tuple[str, int]]:
    if not log.is_file():
        return []
    return [(k, int(n)) for k, n in (line.split() for line in log.read_text().splitlines())]


# ------------------------------------------------------------------------------------------- invariance


@pytest.mark.parametrize("which", ["clip", "ordered"])
def test_batch_size_1_and_16_give_identical_decisions(suite, tmp_path, which):
    name, args = (clip_name(suite[2]), None) if which == "clip" else ordered(suite[2])
    _, a = run(name, suite, tmp_path, args=args, batch_size=1)
    _, b = run(name, suite, tmp_path, args=args, batch_size=16)
    assert len(a) == 30
    assert_same(a, b)


def test_workers_0_and_2_give_identical_decisions(suite, tmp_path):
    name, args = ordered(suite[2])
    _, a = run(name, suite, tmp_path, args=args, workers=0, batch_size=4)
    _, b = run(name, suite, tmp_path, args=args, workers=2, batch_size=4)
    assert_same(a, b)


# ------------------------------------------------------------------------------------------ the bundle


def test_bundle_follows_the_schema_and_records_the_run(suite, tmp_path):
    results, frame = run(clip_name(suite[2]), suite, tmp_path, out=tmp_path / "bundle", command="test")
    check_results(results)
    on_disk, predictions = read_bundle(tmp_path / "bundle")
    assert on_disk == json.loads(json.dumps(results))
    assert len(predictions) == len(frame) == 30
    assert list(frame.columns) == ["probe_id", "task", "dataset", "clip_id", "source_video", "group", "relation",
                                   "s_true", "s_foil", "decision", "tie"]
    # AA per relation: every AA probe says what its foil contrasts, and the blocks add up to the AA cell
    aa = frame[frame.task == "action_antonym"]
    assert aa.relation.notna().all() and frame[frame.task != "action_antonym"].relation.isna().all()
    for dataset, rels in results["relations"].items():
        assert sum(b["n"] for b in rels.values()) == results["results"][dataset]["action_antonym"]["n"]
    assert results["model"]["kind"] == "dual" and results["model"]["order_invariant"] is True
    assert results["model"]["weights_hash"] is None  # random init
    assert results["frame_spec"]["num_frames"] == 8
    assert results["partial"] is False and results["missing"] == [] and results["subset"] is None
    assert results["probesets"][0]["n_probes"] == 30
    assert {r["group"] for r in predictions} == {"Pushing [something] from left to right",
                                                 "Pushing [something] from right to left"}
    # Scores are float32 values; decisions follow them.
    for r in predictions:
        assert r["s_true"] == float(torch.tensor(r["s_true"], dtype=torch.float32))


def test_an_order_invariant_model_is_temporally_blind_on_video_reversal(suite, tmp_path):
    results, frame = run(clip_name(suite[2]), suite, tmp_path)
    vr = frame[frame.task == "video_reversal"]
    assert results["temporally_blind"] is True
    assert results["results"]["ssv2"]["video_reversal"]["temporally_blind"] is True
    assert (vr.s_true == vr.s_foil).all() and vr.tie.all()


def test_an_order_sensitive_model_scores_video_reversal(suite, tmp_path):
    name, args = ordered(suite[2])
    results, frame = run(name, suite, tmp_path, args=args)
    vr = frame[frame.task == "video_reversal"]
    assert results["temporally_blind"] is False
    assert not vr.tie.any()
    assert results["model"]["name"] == "ordered-tinyclip"  # a file factory's model names itself


def test_a_false_order_invariance_declaration_is_caught(suite, tmp_path):
    from _evalkit import OrderedClip

    model = OrderedClip(str(suite[2]))
    model.order_invariant = True
    model.name = "liar"
    with pytest.raises(ModelError, match=r"liar declares order_invariant=True, but reversing the frames of clip"):
        run(model, suite, tmp_path)


# ------------------------------------------------------------------------------------- plan and cache


def test_each_view_and_text_is_encoded_once_and_reused_from_the_cache(suite, tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("AB_CALL_LOG", str(log))
    name = f"{HERE.parent / '_evalkit.py'}:counting_clip"
    _, first = run(name, suite, tmp_path, args={"config": str(suite[2])}, cache=tmp_path / "cache", batch_size=4)
    made = calls(log)
    # 10 clips forward + 10 reversed (VR only); every distinct text (captions and foils) once.
    assert sum(n for k, n in made if k == "video") == 20
    assert sum(n for k, n in made if k == "text") == n_texts(suite[0])
    assert max(n for k, n in made if k == "video") <= 4
    log.unlink()
    _, second = run(name, suite, tmp_path, args={"config": str(suite[2])}, cache=tmp_path / "cache", batch_size=7)
    assert calls(log) == []  # everything came from the cache
    assert_same(first, second)


def test_clips_sharing_a_video_file_are_separate_windows(tmp_path):
    probes, videos = make_suite(tmp_path, n_clips=4, windows=True)
    assert len(list(videos.iterdir())) == 2
    model = f"{HERE.parent / '_evalkit.py'}:ordered_clip"
    _, frame = evaluate(model, [probes], [videos], model_args={"config": str(write_tiny_config(tmp_path))},
                        cache=False)
    s = frame[frame.task == "video_reversal"].set_index("clip_id").s_true
    assert s["ssv2-000"] != s["ssv2-001"]  # same file, different windows, different embeddings


@pytest.mark.slow
def test_a_run_killed_after_k_committed_batches_resumes_with_exactly_the_remaining_calls(suite, tmp_path):
    probes, videos, config = suite
    cache = tmp_path / "cache"
    log = tmp_path / "calls.log"
    cmd = [sys.executable, "-m", "actionbench", "eval", "--model", f"{HERE.parent / '_evalkit.py'}:counting_clip",
           "--model-arg", f"config={config}", "--probes", str(probes), "--videos", str(videos),
           "--batch-size", "3", "--workers", "0", "--cache", str(cache)]
    env = {**os.environ, "AB_CALL_LOG": str(log), "AB_CACHE_ROOT": str(cache), "AB_KILL_AT_BATCHES": "2"}
    killed = subprocess.run([*cmd, "--out", str(tmp_path / "killed")], env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    committed = sorted(cache.glob("*/batches/video-*.safetensors"))
    assert len(committed) == 2  # observed through the cache: two batches of 3 views
    assert sum(committed_rows(f) for f in committed) == 6
    assert not (tmp_path / "killed" / "results.json").exists()
    first = calls(log)
    log.unlink()

    del env["AB_KILL_AT_BATCHES"]
    resumed = subprocess.run([*cmd, "--out", str(tmp_path / "resumed")], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    again = calls(log)
    assert sum(n for k, n in first if k == "text") == n_texts(probes) and not any(k == "text" for k, _ in again)
    assert sum(n for k, n in again if k == "video") == 20 - 2 * 3  # exactly the views not committed

    fresh = evaluate(f"{HERE.parent / '_evalkit.py'}:counting_clip", [probes], [videos],
                     model_args={"config": str(config)}, cache=False)[1]
    _, predictions = read_bundle(tmp_path / "resumed")
    assert_same(fresh.sort_values("probe_id").reset_index(drop=True), pd.DataFrame(predictions)[fresh.columns])


# --------------------------------------------------------------------------------------------- subsets


def test_limit_takes_the_same_probes_for_every_model_and_marks_the_subset(suite, tmp_path):
    a, fa = run("chance", suite, tmp_path, limit=7)
    b, fb = run(clip_name(suite[2]), suite, tmp_path, limit=7)
    assert len(fa) == 7 and sorted(fa.probe_id) == sorted(fb.probe_id)
    assert a["subset"] == {"limit": 7, "rule": SUBSET_RULE}
    c, fc = run("chance", suite, tmp_path, limit=12)
    assert set(fa.probe_id) <= set(fc.probe_id)  # a larger subset contains the smaller one


# -------------------------------------------------------------------------------------- bad input


def test_a_missing_or_corrupt_video_marks_only_its_probes_missing(suite, tmp_path):
    probes, videos, config = suite
    broken = tmp_path / "videos"
    broken.mkdir()
    for f in videos.iterdir():
        (broken / f.name).symlink_to(f)
    (broken / "ssv2-003.mp4").unlink()
    (broken / "ssv2-005.mp4").unlink()
    (broken / "ssv2-005.mp4").write_bytes(b"not a video at all")
    with pytest.raises(MissingVideosError, match=r"6 probes of 2 clips could not be scored"):
        evaluate(clip_name(config), [probes], [broken], cache=False, out=tmp_path / "partial")
    results, _ = read_bundle(tmp_path / "partial")  # written before the error: marked partial
    assert results["partial"] is True

    results, frame = evaluate(clip_name(config), [probes], [broken], cache=False, allow_missing=True)
    assert results["partial"] is True
    missing = {m["clip_id"]: m for m in results["missing"]}
    assert set(missing) == {"ssv2-003", "ssv2-005"}
    assert "not found" in missing["ssv2-003"]["error"]
    assert "ssv2-005.mp4" in missing["ssv2-005"]["error"] and "not found" not in missing["ssv2-005"]["error"]
    assert len(missing["ssv2-005"]["probe_ids"]) == 3
    assert all(c["missing"] == 2 for c in results["results"]["ssv2"].values())
    _, full = run(clip_name(config), suite, tmp_path)
    kept = full[~full.clip_id.isin(["ssv2-003", "ssv2-005"])].reset_index(drop=True)
    assert_same(kept, frame)


@pytest.mark.parametrize(("fault", "message"), [
    ("nan", r"^model broken-nan: encode_videos returned NaN or inf \(batch 2: clips "),
    ("shape", r"^model broken-shape: encode_videos returned shape \(3, 32\) for 4 inputs \(batch 2: clips "),
])
def test_a_model_returning_nan_or_a_wrong_shape_gets_a_one_line_error(suite, tmp_path, fault, message):
    from _evalkit import broken_clip

    with pytest.raises(ModelError, match=message) as e:
        run(broken_clip(str(suite[2]), fault), suite, tmp_path, batch_size=4)
    assert "\n" not in str(e.value)


def test_options_are_checked_before_any_work(suite, tmp_path):
    with pytest.raises(ValueError, match="--ties 'lenient'"):
        run("chance", suite, tmp_path, ties="lenient")
    with pytest.raises(ValueError, match="mixed precision runs on CUDA only"):
        run("chance", suite, tmp_path, amp="bf16", device="cpu")
    with pytest.raises(ValueError, match="2 videos roots"):
        evaluate("chance", [suite[0]], [suite[1], suite[1]])


# ------------------------------------------------------------------------------------------- the CLI


def test_eval_command_prints_a_table_and_writes_the_bundle(suite, tmp_path):
    from typer.testing import CliRunner

    import actionbench.cli.evaluation  # noqa: F401  (registers the commands)
    from actionbench.cli import app

    probes, videos, config = suite
    result = CliRunner().invoke(app, ["eval", "--model", "chance", "--probes", str(probes), "--videos", str(videos),
                                      "--out", str(tmp_path / "out"), "--workers", "0", "--limit", "9"])
    assert result.exit_code == 0, result.output
    assert "chance" in result.output and "subset of 9 probes" in result.output
    results, predictions = read_bundle(tmp_path / "out")
    assert len(predictions) == 9 and results["subset"]["limit"] == 9


def test_encode_videos_and_reversed_is_used_and_gives_the_same_scores(suite, tmp_path):
    from _evalkit import PairedClip

    name, args = ordered(suite[2])
    _, plain = run(name, suite, tmp_path, args=args, batch_size=5)
    PairedClip.frames_seen = 0
    _, paired = run(PairedClip(str(suite[2])), suite, tmp_path, batch_size=5)
    assert PairedClip.frames_seen == 10 * 8  # each clip's frames through the image tower once, not twice
    assert_same(plain, paired)


def test_a_cross_encoder_scores_each_view_against_its_own_texts_once(suite, tmp_path):
    from _evalkit import CountingCross

    model = CountingCross(str(suite[2]))
    results, first = run(model, suite, tmp_path, cache=tmp_path / "cache", batch_size=4)
    # forward view: caption + antonym + object foil (3 texts); reversed view: caption (VR only).
    assert model.pairs == 10 * 3 + 10 * 1
    assert results["model"]["kind"] == "cross" and not first.tie.any()
    model.pairs = 0
    _, second = run(model, suite, tmp_path, cache=tmp_path / "cache", batch_size=3)
    assert model.pairs == 0
    assert_same(first, second)


@pytest.mark.slow
def test_the_mini_benchmark_evaluates_end_to_end_and_passes_the_leaderboard_checks(tmp_path):
    from types import SimpleNamespace

    from rich.console import Console

    from actionbench import demo
    from actionbench.leaderboard.validate import (
        ProbeSetIndex,
        check_decisions,
        check_metrics,
        check_probe_ids,
    )

    sets = demo.build_mini_probes(tmp_path, 0, "tiny", Console(quiet=True))
    probes = [sets["ssv2-val"][0], sets["ego4d-val"][0]]
    videos = [sets["ssv2-val"][1], sets["ego4d-val"][1]]
    config = write_tiny_config(tmp_path)
    for model, bundle in ((clip_name(config), "clip"), ("chance", "chance"), (f"first-frame:{clip_name(config)}", "ff")):
        results, frame = evaluate(model, probes, videos, cache=tmp_path / "cache", workers=2, out=tmp_path / bundle)
        assert set(results["results"]) == {"ssv2", "ego4d"} and not results["partial"]
        assert {r["videos_root"] for r in results["probesets"]} == {str(v) for v in videos}
        on_disk, predictions = read_bundle(tmp_path / bundle)
        entry = SimpleNamespace(folder=tmp_path / bundle, results=on_disk, predictions=predictions)
        check_probe_ids(entry, ProbeSetIndex.from_paths(probes))
        check_decisions(entry)
        check_metrics(entry)


def test_changed_weights_without_a_weights_hash_never_reuse_cached_embeddings(suite, tmp_path, monkeypatch):
    from _evalkit import Counting

    log = tmp_path / "calls.log"
    monkeypatch.setenv("AB_CALL_LOG", str(log))
    model = Counting(str(suite[2]))
    _, before = run(model, suite, tmp_path, cache=tmp_path / "cache")
    log.unlink()
    with torch.no_grad():
        model.model.visual.proj.mul_(1.5).add_(0.01)  # "retrained" in place: same name, args and class
    _, after = run(model, suite, tmp_path, cache=tmp_path / "cache")
    assert sum(n for k, n in calls(log) if k == "video") == 20
    assert not (before.s_true == after.s_true).all()


def test_eval_command_exits_non_zero_on_missing_videos_unless_allowed(suite, tmp_path):
    from typer.testing import CliRunner

    import actionbench.cli.evaluation  # noqa: F401  (registers the commands)
    from actionbench.cli import app

    probes, videos, _ = suite
    partial = tmp_path / "videos"
    partial.mkdir()
    for f in sorted(videos.iterdir())[1:]:
        (partial / f.name).symlink_to(f)
    args = ["eval", "--model", "chance", "--probes", str(probes), "--videos", str(partial), "--workers", "0"]
    refused = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert refused.exit_code == 1 and "could not be scored" in refused.output
    assert read_bundle(tmp_path / "a")[0]["partial"] is True
    allowed = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b"), "--allow-missing"])
    assert allowed.exit_code == 0 and "PARTIAL" in allowed.output


def test_the_package_level_evaluate_stays_callable_after_the_submodule_is_imported():
    import actionbench
    import actionbench.runner  # noqa: F401  (the runner is a package now; the function is a plain function)

    assert callable(actionbench.evaluate)
    assert not hasattr(actionbench, "__getattr__")


@pytest.mark.slow
def test_a_control_reuses_its_models_cached_texts_and_gives_bit_identical_results(suite, tmp_path, monkeypatch):
    from actionbench.models.registry import create_model

    probes, videos, config = suite
    log = tmp_path / "calls.log"
    monkeypatch.setenv("AB_CALL_LOG", str(log))
    model, args = f"{HERE.parent / '_evalkit.py'}:counting_clip", {"config": str(config)}
    run(model, suite, tmp_path, args=args, cache=tmp_path / "cache")
    assert sum(n for k, n in calls(log) if k == "text") == n_texts(probes)
    frames = {}
    for control in ("first-frame", "last-frame", "blind"):
        log.unlink()
        results, shared = frames[control] = run(f"{control}:{model}", suite, tmp_path, args=args,
                                                cache=tmp_path / "cache")
        assert not any(k == "text" for k, _ in calls(log))  # every text from the model's own cache namespace
        assert any(k == "video" for k, _ in calls(log))  # the control's views are its own
        _, alone = run(f"{control}:{model}", suite, tmp_path, args=args, cache=False)
        pd.testing.assert_frame_equal(shared, alone)  # bit-identical
        assert results["run"]["cache_hits"] == n_texts(probes)
    # blind: is order-invariant by construction: not checked on clips, with the result the check gives
    results, shared = frames["blind"]
    assert results["run"]["order_check"] == "by construction" and results["temporally_blind"]
    checked = create_model(f"blind:{model}", args)
    del checked.order_invariant_by_construction  # checked on clips, as any declared order_invariant
    again, frame = run(checked, suite, tmp_path, cache=False)
    assert again["run"]["order_check"] == "passed" and again["temporally_blind"]
    pd.testing.assert_frame_equal(frame, shared)
