"""The runner scores downstream sets (`build-downstream` folders) through `actionbench eval`: every task on mini
sets, decode-once shared with the rest of the run, resume after SIGKILL, `leaderboard validate` (and tampered
bundles refused), batch-size independence, and the original's scoring options with a backbone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _evalkit import HERE, CountingCross, make_suite, write_tiny_config
from typer.testing import CliRunner

import actionbench.cli.downstream  # noqa: F401  (registers the commands)
import actionbench.cli.evaluation  # noqa: F401
import actionbench.cli.leaderboard  # noqa: F401
from actionbench.bundle import downstream_rows, read_bundle
from actionbench.cli import app
from actionbench.datasets.downstream_set import DownstreamSet
from actionbench.errors import InputError
from actionbench.runner import evaluate

KIT = HERE.parent / "_evalkit.py"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def temporal_csv(mini: Path, out: Path) -> Path:
    """A Temporal-SSv2-format file over the mini validation clips with several correct videos per text: each
    clip's text is its template's first word ("Pushing", "Turning", ...)."""
    clips = json.loads((mini / "ssv2" / "validation.json").read_text())
    lines = [",index,video_id,text,dataset"]
    lines += [f"{i},{i},{c['id']},{c['template'].split()[0].lower()},SSv2" for i, c in enumerate(clips)]
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """The tiny mini benchmark, its mini downstream files (`mini-downstream`) and four downstream sets built from
    them with `build-downstream`: SSv2-label, SSv2-template, a Temporal-SSv2-format set with several videos per
    text, and the five-way question set (types TC and DO)."""
    from actionbench.datasets.mini import generate_mini

    root = tmp_path_factory.mktemp("downstream")
    generate_mini(root / "mini", seed=0, size="tiny")
    cli("mini-downstream", "--mini", root / "mini", "--out", root / "files")
    files, out = root / "files", root / "sets"
    cli("build-downstream", "--dataset", "ssv2_label", "--annotations", files / "ssv2_ret_label_val_small.json",
        "--out", out / "label")
    cli("build-downstream", "--dataset", "ssv2_template", "--annotations",
        files / "ssv2_ret_template_val_small.json", "--out", out / "template")
    cli("build-downstream", "--dataset", "temporal_ssv2", "--annotations",
        temporal_csv(root / "mini", root / "temporal.csv"), "--out", out / "temporal")
    cli("build-downstream", "--dataset", "nextqa", "--annotations", files / "nextqa" / "val.csv", "--video-map",
        files / "nextqa" / "map_vid_vidorID.json", "--out", out / "qa")
    return {"label": out / "label", "template": out / "template", "temporal": out / "temporal", "qa": out / "qa",
            "root": out, "videos": root / "mini" / "ssv2" / "videos", "config": write_tiny_config(root)}


def run(sets, names, **kw):
    kw.setdefault("cache", False)
    kw.setdefault("bootstrap_size", 200)
    model = kw.pop("model", f"clip:{sets['config']}")
    return evaluate(model, [sets[n] for n in names], [sets["videos"]], **kw)


def assert_same_rows(a: list[dict], b: list[dict]) -> None:
    """The same rows: rank counts, choices and credits identical; choice scores within float32 rounding (a model
    batch of another size may move the last bits, as for probe scores)."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert {k: v for k, v in x.items() if k != "scores"} == {k: v for k, v in y.items() if k != "scores"}
        if "scores" in x:
            assert x["scores"] == pytest.approx(y["scores"], rel=1e-6, abs=1e-6)


def validate(bundle: Path, sets) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "actionbench", "leaderboard", "validate", str(bundle),
                           "--probes-root", str(sets["root"])], capture_output=True, text=True)


# ------------------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_every_downstream_task_runs_through_eval_decodes_once_and_validates(sets, tmp_path):
    out = tmp_path / "bundle"
    printed = cli("eval", "--model", f"clip:{sets['config']}", "--probes", sets["label"], "--probes",
                  sets["template"], "--probes", sets["temporal"], "--probes", sets["qa"], "--videos", sets["videos"],
                  "--out", out, "--workers", "0", "--batch-size", "5", "--bootstrap-size", "200", "--no-cache")
    assert "retrieval recall" in printed and "nextqa accuracy" in printed
    results, predictions = read_bundle(out)
    cells = results["downstream"]
    assert set(cells) == {"ssv2_label", "ssv2_template", "temporal_ssv2", "nextqa"}
    label = cells["ssv2_label"]["video_text_retrieval"]
    assert label["n_videos"] == label["n_texts"] == 22 and label["method"] == "default" and label["missing"] == 0
    assert set(label["ci95"]) == {"r1_v2t", "r5_v2t", "r10_v2t", "r1_t2v", "r5_t2v", "r10_t2v"}
    temporal = cells["temporal_ssv2"]["video_action_retrieval"]
    assert temporal["n_videos"] == 22 and temporal["n_texts"] < 22 and temporal["texts_without_videos"] == 0
    t2v = [r for r in predictions if r.get("dataset") == "temporal_ssv2" and r["direction"] == "t2v"]
    assert len(t2v) == temporal["n_texts"]  # one text-to-video query per text, each with several correct videos
    qa = cells["nextqa"]["multiple_choice_qa"]
    assert qa["n"] == 44 and set(qa["types"]) == {"TC", "DO"}
    assert "accuracy_temporal" in qa and "accuracy_descriptive" in qa and "accuracy_causal" not in qa
    assert {d["dataset"] for d in results["downstream_sets"]} == set(cells)
    assert results["probesets"] == [] and results["results"] == {}
    # Decode once: the four sets share the 22 mini clips; every candidate and choice text is encoded once.
    texts = {t for name in ("label", "template", "temporal") for t in DownstreamSet.load(sets[name]).texts}
    texts |= {t for item in DownstreamSet.load(sets["qa"]).items for t in item["texts"]}
    assert results["run"]["embeddings"] == 22 + len(texts)
    assert len(downstream_rows(predictions)) == len(predictions)
    proc = validate(out, sets)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_doctor_checks_a_downstream_sets_videos(sets):
    import actionbench.cli.probes  # noqa: F401  (registers doctor)

    assert "all 22 videos decode" in cli("doctor", "--probes", sets["qa"], "--videos", sets["videos"])


def test_a_run_mixes_probe_sets_and_downstream_sets(sets, tmp_path):
    probes, videos = make_suite(tmp_path / "suite", n_clips=4)
    results, frame = evaluate(f"clip:{sets['config']}", [probes, sets["label"]], [videos, sets["videos"]],
                              cache=False, bootstrap_size=200, out=tmp_path / "mixed")
    assert len(frame) == 12 and set(results["results"]) == {"ssv2"} and set(results["downstream"]) == {"ssv2_label"}
    alone, _ = run(sets, ["label"])
    assert results["downstream"] == alone["downstream"]  # a set scores the same with or without other sets
    limited, frame = evaluate(f"clip:{sets['config']}", [probes, sets["label"]], [videos, sets["videos"]],
                              cache=False, bootstrap_size=200, limit=5)
    assert len(frame) == 5 and limited["downstream"] == alone["downstream"]  # --limit: probes only
    proc = subprocess.run([sys.executable, "-m", "actionbench", "leaderboard", "validate", str(tmp_path / "mixed"),
                           "--probes", str(probes), "--probes", str(sets["label"])], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_tampered_downstream_bundles_are_refused_with_one_line(sets, tmp_path):
    good = tmp_path / "good"
    run(sets, ["label", "qa"], out=good)
    for name, edit in (("cell", "results"), ("retrieval-row", "v2t"), ("question-row", "qa")):
        bad = tmp_path / name
        bad.mkdir()
        results = json.loads((good / "results.json").read_text())
        rows = [json.loads(line) for line in (good / "predictions.jsonl").read_text().splitlines()]
        if edit == "results":
            results["downstream"]["ssv2_label"]["video_text_retrieval"]["r10_v2t"] += 5.0
        elif edit == "v2t":
            row = next(r for r in rows if r.get("direction") == "v2t" and r["above"] > 0)
            row["above"] = 0  # now a hit at 1
        else:
            row = next(r for r in rows if r.get("item_id") and r["credit"] == 0.0)
            row["scores"][row["answer"]] = max(row["scores"]) + 1.0  # the recorded choice no longer follows
        (bad / "results.json").write_text(json.dumps(results))
        (bad / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        proc = validate(bad, sets)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        message = (proc.stdout + proc.stderr).strip().splitlines()[0]
        if edit == "results":
            assert "results.json: downstream.ssv2_label.video_text_retrieval.r10_v2t: results.json says" in message
        elif edit == "v2t":
            assert "results.json: downstream.ssv2_label.video_text_retrieval." in message
        else:
            assert "predictions.jsonl: nextqa question" in message and "does not follow from its scores" in message


def test_batch_size_and_workers_do_not_change_downstream_results(sets, tmp_path):
    for args, out in ((dict(batch_size=1, workers=0), "a"), (dict(batch_size=7, workers=2), "b")):
        run(sets, ["temporal", "qa"], out=tmp_path / out, **args)
    a, rows_a = read_bundle(tmp_path / "a")
    b, rows_b = read_bundle(tmp_path / "b")
    assert a["downstream"] == b["downstream"]
    assert_same_rows(rows_a, rows_b)


@pytest.mark.slow
def test_a_downstream_run_killed_by_sigkill_resumes_with_identical_results(sets, tmp_path):
    cache, log = tmp_path / "cache", tmp_path / "calls.log"
    cmd = [sys.executable, "-m", "actionbench", "eval", "--model", f"{KIT}:counting_clip", "--model-arg",
           f"config={sets['config']}", "--probes", str(sets["temporal"]), "--probes", str(sets["qa"]), "--videos",
           str(sets["videos"]), "--batch-size", "3", "--workers", "0", "--cache", str(cache), "--bootstrap-size",
           "200"]
    # One thread, as in this process (autouse fixture): a BLAS of another width may move the last bits.
    env = {**os.environ, "AB_CALL_LOG": str(log), "AB_CACHE_ROOT": str(cache), "AB_KILL_AT_BATCHES": "2",
           "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([*cmd, "--out", str(tmp_path / "killed")], env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert len(list(cache.glob("*/batches/video-*.safetensors"))) == 2
    assert not (tmp_path / "killed" / "results.json").exists()
    log.unlink()
    del env["AB_KILL_AT_BATCHES"]
    resumed = subprocess.run([*cmd, "--out", str(tmp_path / "resumed")], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    again = [line.split() for line in log.read_text().splitlines()]
    assert not any(k == "text" for k, _ in again)  # every text was committed before the kill
    assert sum(int(n) for k, n in again if k == "video") == 22 - 2 * 3  # exactly the clips not committed
    fresh, fresh_rows = evaluate(f"{KIT}:counting_clip", [sets["temporal"], sets["qa"]], [sets["videos"]],
                                 model_args={"config": str(sets["config"])}, cache=False, bootstrap_size=200,
                                 batch_size=3, out=tmp_path / "fresh")
    resumed_results, resumed_rows = read_bundle(tmp_path / "resumed")
    assert resumed_results["downstream"] == fresh["downstream"]
    assert resumed_rows == read_bundle(tmp_path / "fresh")[1]  # the same batches: the same bits
    assert validate(tmp_path / "resumed", sets).returncode == 0


# ------------------------------------------------------------------------------------ scoring options


@pytest.mark.slow
def test_ensemble_and_two_step_are_recorded_and_use_the_backbones_logits(sets, tmp_path, monkeypatch):
    import actionbench.runner.downstream as rd

    seen: list[dict] = []
    real = rd.score_retrieval_set

    def spy(ds, logits, **kw):
        seen.append({"logits": logits, **kw})
        return real(ds, logits, **kw)

    monkeypatch.setattr(rd, "score_retrieval_set", spy)
    model, backbone = f"clip:{sets['config']}", f"clip:{sets['config']}"
    default, _ = run(sets, ["label"])
    backbone_alone, _ = run(sets, ["label"], model=backbone, model_args={"seed": 1})
    cells = {}
    for method in ("ensemble_with_backbone", "two_step_independent"):
        results, _ = run(sets, ["label"], model=model, method=method, backbone=backbone, backbone_args={"seed": 1},
                         out=tmp_path / method)
        cell = results["downstream"]["ssv2_label"]["video_text_retrieval"]
        assert cell["method"] == method and results["backbone"]["name"] == backbone
        assert results["backbone"]["args"] == {"seed": 1} and "weights_hash" in results["backbone"]
        assert validate(tmp_path / method, sets).returncode == 0
        cells[method] = cell
    assert cells["two_step_independent"]["top_k"] == 50
    model_logits, backbone_logits = seen[0]["logits"], seen[1]["logits"]
    for call in seen[2:]:  # the same logits as each model scored alone, the backbone's beside the model's
        assert (call["logits"] == model_logits).all() and (call["backbone_logits"] == backbone_logits).all()
    plain = default["downstream"]["ssv2_label"]["video_text_retrieval"]
    assert plain != backbone_alone["downstream"]["ssv2_label"]["video_text_retrieval"]
    assert cells["ensemble_with_backbone"] != plain and cells["two_step_independent"] != plain
    # Another method is another run: a bundle of one is not overwritten by the other without --overwrite.
    with pytest.raises(InputError, match="with other scoring method"):
        run(sets, ["label"], model=model, out=tmp_path / "two_step_independent")


def test_two_downstream_bundles_are_compared_paired_per_metric(sets, tmp_path):
    from actionbench.leaderboard import compare_entries, load_entry

    a, _ = run(sets, ["label", "qa"], out=tmp_path / "a")
    b, _ = run(sets, ["label", "qa"], model_args={"seed": 1}, out=tmp_path / "b")
    comparisons = compare_entries(load_entry(tmp_path / "a"), load_entry(tmp_path / "b"), size=200)
    assert [(c.dataset, c.metric) for c in comparisons] == [("nextqa", "accuracy")] + [
        ("ssv2_label", m) for m in ("r1_v2t", "r5_v2t", "r1_t2v", "r5_t2v")]
    for c in comparisons:  # over the same queries / questions, so the difference is the cells' difference
        mine, theirs = a["downstream"][c.dataset][c.task], b["downstream"][c.dataset][c.task]
        assert c.accuracy_a == pytest.approx(mine[c.metric]) and c.accuracy_b == pytest.approx(theirs[c.metric])
        assert c.diff == pytest.approx(mine[c.metric] - theirs[c.metric]) and c.n == (44 if c.task != "video_text_retrieval" else 22)


def test_scoring_options_and_model_kinds_are_checked_with_one_line(sets, tmp_path):
    model = f"clip:{sets['config']}"
    with pytest.raises(InputError, match="needs a second model: --backbone MODEL"):
        run(sets, ["label"], method="ensemble_with_backbone")
    with pytest.raises(InputError, match="--backbone is used only by --method"):
        run(sets, ["label"], backbone=model)
    with pytest.raises(InputError, match=r"applies to retrieval sets only; score downstream set \w+ \(nextqa\)"):
        run(sets, ["label", "qa"], method="two_step_independent", backbone=model)
    with pytest.raises(InputError, match="scores probes by id"):
        run(sets, ["qa"], model="chance")
    with pytest.raises(InputError, match="--limit takes a subset of the probes of probe sets; downstream sets are "):
        run(sets, ["qa"], limit=3)
    cross = CountingCross(str(sets["config"]))
    with pytest.raises(InputError, match=r"cross-encoder: retrieval on ssv2_label means scoring 484 \(video, text\) "
                                         r"pairs \(22 videos x 22 texts\); pass --allow-cross-retrieval"):
        run(sets, ["label", "qa"], model=cross)
    assert cross.pairs == 0  # refused before any work


def test_a_cross_encoder_scores_questions_pair_wise_and_retrieval_when_allowed(sets, tmp_path):
    cross = CountingCross(str(sets["config"]))
    results, _ = run(sets, ["qa"], model=cross, batch_size=4)
    assert cross.pairs == 44 * 5  # each clip against only its own questions' choices
    dual, _ = run(sets, ["qa"], model=f"{KIT}:ordered_clip", model_args={"config": str(sets["config"])})
    assert results["downstream"]["nextqa"] == dual["downstream"]["nextqa"]  # the same tiny CLIP, pair by pair
    cross.pairs = 0
    results, _ = run(sets, ["label"], model=cross, allow_cross_retrieval=True, out=tmp_path / "cross")
    assert cross.pairs == 22 * 22 and results["model"]["kind"] == "cross"
    assert validate(tmp_path / "cross", sets).returncode == 0


def test_an_edited_downstream_set_is_refused(sets, tmp_path):
    import shutil

    edited = tmp_path / "edited"
    shutil.copytree(sets["label"], edited)
    texts = edited / "texts.jsonl"
    first, *rest = texts.read_text().splitlines()
    texts.write_text("\n".join([json.dumps({"index": 0, "text": "something else"}), *rest]) + "\n")
    proc = subprocess.run([sys.executable, "-m", "actionbench", "eval", "--model", f"clip:{sets['config']}",
                           "--probes", str(edited), "--videos", str(sets["videos"]), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "edited: its files do not match manifest set_id" in proc.stderr


@pytest.mark.slow
def test_two_gloo_processes_score_downstream_sets_exactly_as_one(sets, tmp_path):
    import shutil

    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    args = ["eval", "--model", f"clip:{sets['config']}", "--probes", str(sets["label"]), "--probes", str(sets["qa"]),
            "--videos", str(sets["videos"]), "--workers", "0", "--bootstrap-size", "200", "--no-cache"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "actionbench", *args, "--out", str(tmp_path / "one")], env=env,
                         capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "-m", "actionbench", *args, "--out",
                          str(tmp_path / "two")], env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    (r1, p1), (r2, p2) = read_bundle(tmp_path / "one"), read_bundle(tmp_path / "two")
    assert p1 == p2 and r1["downstream"] == r2["downstream"] and r2["run"]["world_size"] == 2
