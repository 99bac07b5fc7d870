"""The leaderboard: the paper's rows, validation that catches tampering, tables in every format, comparisons."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from actionbench.bundle import BundleError, read_bundle, write_bundle
from actionbench.ids import seeded_rng
from actionbench.leaderboard import (
    ProbeSetIndex,
    ValidationError,
    check_mixing,
    compare_entries,
    load_entries,
    load_entry,
    load_leaderboard,
    render,
    render_terminal,
    validate_entry,
)
from actionbench.leaderboard.downstream import downstream_only
from actionbench.leaderboard.table import format_count, half_up
from actionbench.metrics import decide, summarize
from actionbench.probes.schema import Clip, Probe, ProbeSet, probe_id_for, seed_key

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / "submissions"
TASKS = ("action_antonym", "video_reversal", "object_replacement")


# ------------------------------------------------------------------------------- fake measured entries


def make_probeset(folder: Path, dataset: str, n_videos: int, clips_per_video: int) -> ProbeSet:
    """A small probe set: every clip gets an AA, a VR and an OR probe."""
    clips, probes = [], []
    for v in range(n_videos):
        for k in range(clips_per_video):
            clip_id = f"{dataset}-{v:03d}-{k}"
            verb = ("pushing", "lifting")[v % 2]
            clips.append(Clip(clip_id, dataset, "val", f"{v}.mp4", None, None, f"video{v}", f"{verb} a pen",
                              f"{verb} a pen", (), verb, {}))
            for task in TASKS:
                edit = None if task == "video_reversal" else {"from": verb, "to": "x", "task": task}
                pid = probe_id_for(seed_key(dataset, clip_id, task, "test"), edit)
                foil = None if task == "video_reversal" else f"x a pen {task}"
                probes.append(Probe(pid, task, clip_id, f"{verb} a pen", foil, edit))
    ps = ProbeSet.create(clips, probes, lexicon_version="test", dataset=dataset, split="val", parameters={},
                         dropped={})
    ps.save(folder)
    return ps


def predictions_for(ps: ProbeSet, skill: float, *, policy: str = "half", blind: bool = False) -> list[dict]:
    """Scores where the true pairing wins with probability `skill` (decided per source video)."""
    clips = ps.clip_index()
    rows = []
    for p in ps.probes:
        clip = clips[p.clip_id]
        rng = seeded_rng("fake-model", skill, clip.source_video, p.task)
        wins = rng.random() < skill
        s_true = round(float(rng.uniform(0.2, 0.3)), 6)
        s_foil = s_true if (blind and p.task == "video_reversal") else (s_true - 0.01 if wins else s_true + 0.01)
        credit, tie = decide(s_true, s_foil, p.task, policy, p.probe_id, 100.0)
        rows.append({"probe_id": p.probe_id, "task": p.task, "dataset": clip.dataset, "clip_id": clip.clip_id,
                     "source_video": clip.source_video, "group": clip.action, "s_true": s_true, "s_foil": s_foil,
                     "decision": credit, "tie": tie})
    return rows


def results_for(predictions: list[dict], probesets: list[ProbeSet], *, name: str, policy: str = "half",
                blind: bool = False, frames: int = 8) -> dict:
    """results.json as the runner writes it."""
    return {
        "schema_version": "1.0", "protocol_version": "1.0",
        "model": {"name": name, "args": {}, "weights_hash": None, "preprocess": {"size": [224, 224]},
                  "order_invariant": blind, "kind": "dual-encoder", "logit_scale": 100.0},
        "frame_spec": {"num_frames": frames, "sampling": "linspace"}, "decoder": {"name": "decord", "version": "0.6.0"},
        "ties": policy, "device": "cpu", "dtype": "float32", "amp": False,
        "probesets": [{"probeset_id": ps.probeset_id, "dataset": ps.manifest.dataset, "split": ps.manifest.split,
                       "videos_root": None, "n_probes": len(ps.probes)} for ps in probesets],
        **summarize(predictions, policy=policy, bootstrap_seed=0, bootstrap_size=200, temporally_blind=blind),
        "bootstrap": {"seed": 0, "size": 200}, "subset": None, "partial": False, "missing": [],
        "command": "actionbench eval --model test", "harness_version": "0.1.0", "git_hash": None,
        "temporally_blind": blind,
    }


def make_entry(root: Path, name: str, probesets: list[ProbeSet], skill: float, *, backbone: str = "TestNet",
               method: str = "Backbone", policy: str = "half", blind: bool = False, frames: int = 8,
               metadata: bool = True) -> Path:
    preds = [r for ps in probesets for r in predictions_for(ps, skill, policy=policy, blind=blind)]
    folder = root / name
    write_bundle(folder, results_for(preds, probesets, name=name, policy=policy, blind=blind, frames=frames), preds)
    if metadata:
        meta = {"schema_version": "1.0", "model": name, "backbone": backbone, "method": method,
                "patcher_loss": None if method == "Backbone" else "VTC+DVDM",
                "trainable_params": 0 if method == "Backbone" else 4_200_000, "backbone_params": 478_127_105,
                "paper": None, "url": "https://example.org", "date": "2025-01-02", "ran_by": "tests",
                "source": "measured"}
        (folder / "submission.json").write_text(json.dumps(meta, indent=2))
    return folder


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> dict[str, ProbeSet]:
    root = tmp_path_factory.mktemp("probes")
    return {
        "ssv2": make_probeset(root / "ssv2-val", "ssv2", n_videos=60, clips_per_video=1),
        "ego4d": make_probeset(root / "ego4d-test", "ego4d", n_videos=20, clips_per_video=3),
    }


@pytest.fixture()
def board_dir(tmp_path, probes) -> Path:
    """A leaderboard folder: a measured backbone row, a patched row that is much better, a blind control."""
    sets = [probes["ego4d"], probes["ssv2"]]
    make_entry(tmp_path, "testnet", sets, 0.5)
    make_entry(tmp_path, "testnet-patched", sets, 0.95, method="KP-Perceiver")
    make_entry(tmp_path, "testnet-same", sets, 0.5, method="KP-Transformer")
    return tmp_path


def index_for(probes: dict[str, ProbeSet], tmp: Path) -> ProbeSetIndex:
    return ProbeSetIndex({ps.probeset_id: [_saved(ps, tmp)] for ps in probes.values()})


def _saved(ps: ProbeSet, tmp: Path) -> Path:
    folder = tmp / f"ps-{ps.probeset_id}"
    if not folder.exists():
        ps.save(folder)
    return folder


def _reason(entry_folder: Path, index: ProbeSetIndex | None) -> str:
    with pytest.raises(BundleError) as err:
        validate_entry(load_entry(entry_folder), index)
    message = str(err.value)
    assert "\n" not in message, "reasons are one line"
    return message


def _rewrite(folder: Path, results=None, predictions=None) -> None:
    old_results, old_preds = read_bundle(folder)
    write_bundle(folder, old_results if results is None else results, old_preds if predictions is None else predictions)


# ------------------------------------------------------------------------------------ the paper's rows


def _parse_md_table(lines: list[str], header_start: str) -> list[list[str]]:
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        if set(line.replace("|", "").strip()) <= {"-", ":", " "}:
            continue  # the separator line
        table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return table


def test_plain_markdown_of_the_shipped_submissions_equals_the_papers_table_1(shared_data):
    reference = (shared_data.parent / "REFERENCE.md").read_text(encoding="utf-8").splitlines()
    section = reference[next(i for i, line in enumerate(reference) if line.startswith("### Table 1")):]
    expected = _parse_md_table(section, "| Backbone |")
    board = load_leaderboard(SUBMISSIONS)
    got = _parse_md_table(render(board, "md", plain=True).splitlines(), "| Backbone |")
    assert len(expected) == 14  # header + 13 rows, Human included
    assert got == expected


def test_every_shipped_submission_is_a_valid_reported_entry_citing_the_paper():
    entries = [e for e in load_entries(SUBMISSIONS) if not downstream_only(e)]  # Table 2's: test_leaderboard_table2
    assert len(entries) == 13
    for e in entries:
        validate_entry(e, ProbeSetIndex({}))
        assert e.submission.source == "reported"
        assert "2305.10683" in (e.submission.url or "") and "Paxion" in (e.submission.paper or "")
        for tasks in e.results["results"].values():  # numbers only, never formatted text
            assert all(isinstance(c["accuracy"], float) for c in tasks.values())
        assert e.submission.trainable_params is None or isinstance(e.submission.trainable_params, int)


def test_avg_is_rounded_half_up_and_parameters_show_their_share_of_the_backbone():
    assert str(half_up(241.8 / 4)) == "60.5"  # Clip-ViP KP-Transformer: banker's rounding would say 60.4
    assert str(half_up(223.4 / 4)) == "55.9"
    assert format_count(4_200_000) == "4.2M" and format_count(850) == "850"
    rows = {r.entry.name: r for r in load_leaderboard(SUBMISSIONS).rows}
    assert rows["paper-clipvip-kp-transformer-vtc"].avg.text == "60.5"
    assert rows["paper-singularity-kp-perceiver-vtc"].params == "1.3M (0.6%)"  # of 216,324,035 loaded params
    assert rows["paper-internvideo-backbone"].params == "-"
    assert rows["paper-human"].params == "" and rows["paper-human"].method == ""


def test_the_best_of_each_group_is_bold_unless_plain():
    board = load_leaderboard(SUBMISSIONS)
    md = render(board, "md")
    assert "| InternVideo | KP-Perceiver [VTC+DVDM] | 4.2M (0.9%) | **90.1** | **75.5** | **90.7** | **87.4** | **85.9** |" in md
    assert "| Clip-ViP | KP-Transformer [VTC] | 3.9M (2.6%) | 61.9 | 53.4 | 72.2 | 54.3 | 60.5 |" in md
    assert "| Human |  |  | 92.0 |" in md  # a one-row group has no "best"
    assert "**" not in render(board, "md", plain=True)


def test_latex_and_csv_carry_the_same_numbers():
    board = load_leaderboard(SUBMISSIONS)
    tex = render(board, "latex")
    assert r"\toprule" in tex and r"8.4M (1.8\%)" in tex and r"\textbf{85.9}" in tex
    rows = list(csv.DictReader(io.StringIO(render(board, "csv"))))
    assert len(rows) == 13
    human = next(r for r in rows if r["entry"] == "paper-human")
    assert (human["aa_ego4d"], human["vr_ssv2"], human["avg"], human["source"]) == ("92.0", "90.0", "89.0", "reported")


def test_reported_entries_with_formatted_text_are_refused(tmp_path):
    folder = tmp_path / "bad"
    shutil.copytree(SUBMISSIONS / "paper-human", folder)
    results = json.loads((folder / "results.json").read_text())
    results["results"]["ssv2"]["action_antonym"]["accuracy"] = "96.0%"
    (folder / "results.json").write_text(json.dumps(results))
    with pytest.raises(BundleError, match=r"results\.json: results\.ssv2\.action_antonym\.accuracy: expected a number"):
        load_entry(folder)


def test_submission_metadata_errors_name_the_field(tmp_path):
    folder = tmp_path / "bad"
    shutil.copytree(SUBMISSIONS / "paper-human", folder)
    meta = json.loads((folder / "submission.json").read_text())
    meta["source"] = "rumoured"
    (folder / "submission.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"submission\.json: source: expected one of"):
        load_entry(folder)


# ------------------------------------------------------------------------------ validating measured rows


def test_a_complete_measured_entry_validates_against_its_probe_sets(tmp_path, probes):
    folder = make_entry(tmp_path / "board", "ok", [probes["ego4d"], probes["ssv2"]], 0.7)
    validate_entry(load_entry(folder), index_for(probes, tmp_path))


def test_probe_sets_are_found_under_a_probes_root(tmp_path, probes):
    for ps in probes.values():
        ps.save(tmp_path / "root" / "nested" / ps.manifest.dataset)
    index = ProbeSetIndex.from_paths(probes_root=tmp_path / "root")
    assert set(index.folders) == {ps.probeset_id for ps in probes.values()}


def test_validation_without_the_probe_sets_says_how_to_find_them(tmp_path, probes):
    folder = make_entry(tmp_path, "ok", [probes["ssv2"]], 0.7)
    assert "pass --probes DIR or --probes-root DIR" in _reason(folder, ProbeSetIndex({}))


def test_a_hand_edited_accuracy_is_caught(tmp_path, probes):
    folder = make_entry(tmp_path, "e", [probes["ego4d"], probes["ssv2"]], 0.6)
    results, _ = read_bundle(folder)
    results["results"]["ssv2"]["action_antonym"]["accuracy"] += 5.0
    _rewrite(folder, results=results)
    reason = _reason(folder, index_for(probes, tmp_path))
    assert "results.ssv2.action_antonym.accuracy" in reason and "the predictions give" in reason


def test_an_edited_decision_is_caught(tmp_path, probes):
    folder = make_entry(tmp_path, "e", [probes["ssv2"]], 0.6)
    _, preds = read_bundle(folder)
    victim = next(r for r in preds if r["decision"] == 0.0)
    victim["decision"] = 1.0
    _rewrite(folder, predictions=preds)
    reason = _reason(folder, index_for(probes, tmp_path))
    assert victim["probe_id"] in reason and "does not follow from s_true" in reason


def test_consistently_edited_predictions_are_caught_by_recomputing_the_metrics(tmp_path, probes):
    folder = make_entry(tmp_path, "e", [probes["ssv2"]], 0.6)
    _, preds = read_bundle(folder)
    for r in preds:  # scores and decisions edited together: each row is self-consistent
        if r["decision"] == 0.0:
            r["s_true"], r["s_foil"], r["decision"] = r["s_foil"], r["s_true"], 1.0
    _rewrite(folder, predictions=preds)
    assert "the predictions give" in _reason(folder, index_for(probes, tmp_path))


def test_a_removed_prediction_is_caught_even_when_the_results_are_recomputed(tmp_path, probes):
    folder = make_entry(tmp_path, "e", [probes["ssv2"]], 0.6)
    results, preds = read_bundle(folder)
    removed = preds.pop(3)
    results.update(summarize(preds, policy="half", bootstrap_seed=0, bootstrap_size=200))
    _rewrite(folder, results=results, predictions=preds)
    reason = _reason(folder, index_for(probes, tmp_path))
    assert "1 probes of the probe sets have no prediction" in reason and removed["probe_id"] in reason


def test_an_extra_or_relabelled_prediction_is_caught(tmp_path, probes):
    folder = make_entry(tmp_path, "e", [probes["ssv2"]], 0.6)
    _, preds = read_bundle(folder)
    preds[0]["source_video"] = "somewhere-else"  # moving a probe to another cluster changes the intervals
    _rewrite(folder, predictions=preds)
    assert "source_video is 'somewhere-else'" in _reason(folder, index_for(probes, tmp_path))


def test_a_limit_subset_is_refused(tmp_path, probes):
    folder = make_entry(tmp_path, "e", [probes["ssv2"]], 0.6)
    results, preds = read_bundle(folder)
    preds = sorted(preds, key=lambda r: r["probe_id"])[:10]
    results.update(summarize(preds, policy="half", bootstrap_seed=0, bootstrap_size=200))
    results["subset"] = {"limit": 10, "rule": "probe-id hash"}
    _rewrite(folder, results=results, predictions=preds)
    assert "subset run" in _reason(folder, index_for(probes, tmp_path))


def test_a_partial_run_is_refused(tmp_path, probes):
    folder = make_entry(tmp_path, "e", [probes["ssv2"]], 0.6)
    results, _ = read_bundle(folder)
    results["partial"] = True
    results["missing"] = [{"probe_id": "x", "error": "video not found"}]
    _rewrite(folder, results=results)
    assert "partial run" in _reason(folder, None)


def test_n_must_match_the_manifest(tmp_path, probes):
    folder = make_entry(tmp_path, "e", [probes["ssv2"]], 0.6)
    results, _ = read_bundle(folder)
    results["probesets"][0]["n_probes"] += 1
    _rewrite(folder, results=results)
    assert "its manifest counts 180" in _reason(folder, index_for(probes, tmp_path))


def test_a_table_refuses_mixed_tie_policies_or_sampling_unless_allowed(tmp_path, probes):
    make_entry(tmp_path, "a", [probes["ssv2"]], 0.6)
    make_entry(tmp_path, "b", [probes["ssv2"]], 0.6, policy="paper")
    make_entry(tmp_path, "c", [probes["ssv2"]], 0.6, frames=16)
    entries = load_entries(tmp_path)
    with pytest.raises(ValidationError, match="mixed sampling spec|mixed tie policy"):
        check_mixing(entries)
    notes = check_mixing(entries, allow_mixed=True)
    assert any("tie policy" in n for n in notes) and any("sampling spec" in n for n in notes)
    board = load_leaderboard(tmp_path, allow_mixed=True, index=index_for(probes, tmp_path))
    assert "mixed tie policy" in render(board, "md")


def test_the_cli_validates_a_folder_and_exits_non_zero_on_an_invalid_entry(tmp_path, probes):
    from typer.testing import CliRunner

    from actionbench.cli.leaderboard import leaderboard_app

    make_entry(tmp_path / "board", "good", [probes["ssv2"]], 0.6)
    bad = make_entry(tmp_path / "board", "bad", [probes["ssv2"]], 0.6)
    results, _ = read_bundle(bad)
    results["results"]["ssv2"]["video_reversal"]["accuracy"] = 99.0
    _rewrite(bad, results=results)
    ps_dir = _saved(probes["ssv2"], tmp_path)
    runner = CliRunner()
    out = runner.invoke(leaderboard_app, ["validate", str(tmp_path / "board"), "--probes", str(ps_dir)])
    assert out.exit_code != 0
    assert "ok      good" in out.output and "invalid bad:" in out.output
    out = runner.invoke(leaderboard_app, ["validate", str(tmp_path / "board" / "good"), "--probes", str(ps_dir)])
    assert out.exit_code == 0, out.output


# ------------------------------------------------------------------------------ measured rows in tables


def test_a_measured_row_that_beats_its_backbone_is_marked_and_one_that_does_not_is_not(board_dir, probes):
    board = load_leaderboard(board_dir, bootstrap_size=2000, index=index_for(probes, board_dir))
    rows = {r.entry.name: r for r in board.rows}
    patched = {(col.dataset, col.task): c for col, c in rows["testnet-patched"].cells.items()}
    assert patched[("ssv2", "action_antonym")].significant  # 93% vs 38% on 60 independent videos
    assert patched[("ssv2", "action_antonym")].comparison.p_holm < 0.05
    assert not any(c.significant for c in rows["testnet-same"].cells.values())
    # Holm across the whole table: 2 compared rows x (AA, VR, OR) x 2 datasets.
    assert len(board.comparisons) == 12
    md = render(board, "md", plain=True)
    assert "| TestNet | KP-Perceiver [VTC+DVDM] (measured) | 4.2M (0.9%) |" in md
    assert "†" in md and "### 95% intervals" in md and "Holm" in md


def test_measured_and_reported_rows_share_one_table(board_dir, probes):
    board = load_leaderboard([SUBMISSIONS, board_dir], bootstrap_size=200, index=index_for(probes, board_dir))
    assert [g.backbone for g in board.groups][-2:] == ["Human", "TestNet"]
    assert {r.source for r in board.rows} == {"measured", "reported"}
    html = render(board, "html")
    assert 'data-source="measured"' in html and 'data-source="reported"' in html


def test_a_temporally_blind_model_shows_blind_not_a_score(tmp_path, probes):
    make_entry(tmp_path, "framebag", [probes["ssv2"]], 0.7, blind=True)
    row = load_leaderboard(tmp_path, index=index_for(probes, tmp_path)).rows[0]
    vr = next(c for col, c in row.cells.items() if col.task == "video_reversal")
    assert vr.text == "blind" and vr.exact == 50.0


def test_compare_reports_the_paired_difference_per_task(board_dir):
    comparisons = compare_entries(load_entry(board_dir / "testnet-patched"), load_entry(board_dir / "testnet"),
                                  size=500)
    assert [(c.dataset, c.task) for c in comparisons] == [
        ("ego4d", "action_antonym"), ("ego4d", "video_reversal"), ("ego4d", "object_replacement"),
        ("ssv2", "action_antonym"), ("ssv2", "video_reversal"), ("ssv2", "object_replacement")]
    ego = comparisons[0]
    assert ego.n == 60 and ego.n_clusters == 20 and ego.diff > 20 and ego.significant


def test_the_cli_renders_and_compares(board_dir, tmp_path, probes):
    from typer.testing import CliRunner

    from actionbench.cli.leaderboard import leaderboard_app

    runner = CliRunner()
    out_file = tmp_path / "out" / "board.html"
    sets = [str(_saved(ps, tmp_path / "sets")) for ps in probes.values()]
    out = runner.invoke(leaderboard_app, ["render", str(board_dir), "--format", "html", "--out", str(out_file),
                                          "--bootstrap-size", "200", "--probes", sets[0], "--probes", sets[1]])
    assert out.exit_code == 0, out.output
    assert out_file.read_text().startswith("<!DOCTYPE html>")
    out = runner.invoke(leaderboard_app, ["compare", str(board_dir / "testnet-patched"),
                              str(board_dir / "testnet"), "--bootstrap-size", "200"])
    assert out.exit_code == 0, out.output
    assert "testnet-patched vs testnet" in out.output and "Ego4d" in out.output and "p (Holm)" in out.output


def test_the_terminal_table_of_bare_bundles_groups_controls_with_their_model(tmp_path, probes):
    from rich.console import Console

    sets = [probes["ssv2"]]
    make_entry(tmp_path, "clip", sets, 0.6, metadata=False)
    make_entry(tmp_path, "blind", sets, 0.5, metadata=False)
    # Bare bundles name their model in results.json; rename the second as a control of the first.
    results, preds = read_bundle(tmp_path / "blind")
    results["model"]["name"] = "blind:clip"
    write_bundle(tmp_path / "blind", results, preds)
    table = render_terminal([tmp_path / "clip", tmp_path / "blind"], bootstrap_size=200)
    console = Console(record=True, width=200)
    console.print(table)
    text = console.export_text()
    assert "blind control" in text and "measured" in text and "AA SSv2" in text


# ------------------------------------------------------------------------------ the runner's own bundles


@pytest.mark.slow
def test_a_bundle_written_by_the_runner_validates_and_a_limit_run_does_not(tmp_path):
    """The contract between `actionbench.evaluate` and the leaderboard: its bundles recompute exactly."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import _evalkit

    from actionbench.runner import evaluate

    probes_dir, videos = _evalkit.make_suite(tmp_path / "suite", n_clips=6)
    evaluate("chance", [probes_dir], [videos], out=tmp_path / "full", cache=False, bootstrap_size=100)
    evaluate("chance", [probes_dir], [videos], out=tmp_path / "subset", cache=False, bootstrap_size=100, limit=5)
    index = ProbeSetIndex.from_paths([probes_dir])
    validate_entry(load_entry(tmp_path / "full"), index)
    assert "subset run" in _reason(tmp_path / "subset", index)
