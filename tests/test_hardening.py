"""Issue 13: a leaderboard that cannot be gamed, outputs that cannot be injected, writers that stay in `--out`,
and readers that refuse bad input with one line naming the file, line and field."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_leaderboard import index_for, make_entry, make_probeset, predictions_for, results_for
from typer.testing import CliRunner

from actionbench.bundle import BundleError, read_bundle, write_bundle
from actionbench.cli.leaderboard import leaderboard_app
from actionbench.errors import InputError
from actionbench.leaderboard import ProbeSetIndex, load_entry, load_leaderboard, render, validate_entry
from actionbench.leaderboard.validate import ValidationError
from actionbench.metrics import MetricsError, summarize
from actionbench.probes.schema import ProbeSet, ProbeSetError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ssv2(tmp_path_factory) -> tuple[ProbeSet, Path]:
    folder = tmp_path_factory.mktemp("ps") / "ssv2-val"
    return make_probeset(folder, "ssv2", n_videos=12, clips_per_video=1), folder


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess (as a user runs it), from this worktree."""
    return subprocess.run([sys.executable, "-m", "actionbench", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)


# ---------------------------------------------------------------------------- 1. temporal blindness


def test_a_temporally_blind_claim_needs_every_vr_prediction_to_tie(tmp_path, ssv2):
    ps, folder = ssv2
    preds = predictions_for(ps, 0.3)  # a poor model: VR scores are real, not ties
    results = results_for(preds, [ps], name="liar")
    results["model"]["order_invariant"] = True
    results.update(summarize(preds, policy="half", bootstrap_seed=0, bootstrap_size=200, temporally_blind=True))
    results["temporally_blind"] = True
    write_bundle(tmp_path / "liar", results, preds)
    with pytest.raises(ValidationError, match="claims temporally_blind but this Video Reversal prediction is not a tie"):
        validate_entry(load_entry(tmp_path / "liar"), index_for({"ssv2": ps}, tmp_path))
    # A genuinely order-invariant model (every VR score a tie) keeps its "blind" cell.
    honest = make_entry(tmp_path, "honest", [ps], 0.6, blind=True)
    validate_entry(load_entry(honest), index_for({"ssv2": ps}, tmp_path))


def test_a_temporally_blind_claim_needs_a_declared_order_invariant_model(tmp_path, ssv2):
    ps, _ = ssv2
    folder = make_entry(tmp_path, "e", [ps], 0.6, blind=True)
    results, preds = read_bundle(folder)
    results["model"]["order_invariant"] = False
    write_bundle(folder, results, preds)
    with pytest.raises(ValidationError, match="not declared order_invariant"):
        validate_entry(load_entry(folder), index_for({"ssv2": ps}, tmp_path))


# ------------------------------------------------------------------------- 2. probeset_id recomputed


def _forged_subset(ps_folder: Path, out: Path, keep: int) -> Path:
    """A copy of a probe set that keeps its manifest (and so its real probeset_id) but only some probes."""
    shutil.copytree(ps_folder, out)
    lines = (out / "probes.jsonl").read_text().splitlines(keepends=True)
    (out / "probes.jsonl").write_text("".join(lines[:keep]))
    return out


def test_a_forged_probe_set_carrying_the_real_id_is_refused_on_load(tmp_path, ssv2):
    ps, folder = ssv2
    forged = _forged_subset(folder, tmp_path / "forged", keep=5)
    with pytest.raises(ProbeSetError, match="probeset_id .* does not match the files"):
        ProbeSet.load(forged)
    edited = tmp_path / "edited"
    shutil.copytree(folder, edited)
    text = (edited / "clips.jsonl").read_text().replace('"start":null', '"start":0.5', 1)
    (edited / "clips.jsonl").write_text(text)
    with pytest.raises(ProbeSetError, match="does not match the files"):
        ProbeSet.load(edited)
    assert ProbeSet.load(folder).probeset_id == ps.probeset_id


def test_validate_does_not_accept_a_hand_picked_subset_under_the_real_id(tmp_path, ssv2):
    ps, folder = ssv2
    root = tmp_path / "root"
    _forged_subset(folder, root / "forged", keep=len(ps.probes) - 3)
    full = make_entry(tmp_path / "board", "e", [ps], 0.6)
    results, preds = read_bundle(full)
    forged_ids = {json.loads(line)["probe_id"] for line in (root / "forged" / "probes.jsonl").read_text().splitlines()}
    kept = [r for r in preds if r["probe_id"] in forged_ids]
    write_bundle(full, {**results, **summarize(kept, policy="half", bootstrap_seed=0, bootstrap_size=200)}, kept)
    index = ProbeSetIndex.from_paths(probes_root=root)
    with pytest.raises(ProbeSetError, match="does not match the files"):
        validate_entry(load_entry(full), index)
    # With the genuine probe set beside the forgery, the real one is used and the subset is caught.
    shutil.copytree(folder, root / "real")
    index = ProbeSetIndex.from_paths(probes_root=root)
    with pytest.raises(ValidationError, match="have no prediction"):
        validate_entry(load_entry(full), index)


# ---------------------------------------------------------------------- 3. render verifies by default


def test_render_refuses_measured_entries_without_their_probe_sets_unless_unverified(tmp_path, ssv2):
    ps, folder = ssv2
    make_entry(tmp_path / "board", "e", [ps], 0.6)
    runner = CliRunner()
    out = runner.invoke(leaderboard_app, ["render", str(tmp_path / "board"), "--bootstrap-size", "200"])
    assert out.exit_code != 0
    with pytest.raises(ValidationError, match="pass --probes DIR or --probes-root DIR .*--unverified"):
        load_leaderboard(tmp_path / "board", bootstrap_size=200)
    out = runner.invoke(leaderboard_app, ["render", str(tmp_path / "board"), "--bootstrap-size", "200",
                                          "--unverified"])
    assert out.exit_code == 0, out.output
    assert "(unverified)" in out.output and "not checked against their probe sets" in out.output
    out = runner.invoke(leaderboard_app, ["render", str(tmp_path / "board"), "--bootstrap-size", "200",
                                          "--probes", str(folder)])
    assert out.exit_code == 0, out.output
    assert "(unverified)" not in out.output


def test_the_readme_render_example_gives_the_probe_sets():
    readme = (REPO / "README.md").read_text()
    for line in readme.splitlines():
        # Table 1 holds measured rows, which are verified against their probe sets; Table 2 holds only the paper's
        # reported rows today (the runner does not run the downstream tasks yet), so it needs none.
        if line.startswith("actionbench leaderboard render submissions/") and "--table 2" not in line:
            assert "--probes-root" in line or "--probes " in line, line


# ------------------------------------------------------------------------------- 4. no rich markup


def test_paths_and_probe_ids_with_markup_print_as_text_in_one_line(tmp_path, ssv2):
    ps, folder = ssv2
    board = tmp_path / "board[/x]"
    good = make_entry(board, "good[bold]", [ps], 0.6)
    bad = make_entry(board, "bad[red]", [ps], 0.6)
    results, preds = read_bundle(bad)
    preds[0]["probe_id"] = "[/x]\n[bold]forged"
    write_bundle(bad, results, preds)
    proc = _cli("leaderboard", "validate", str(board), "--probes", str(folder))
    assert "Traceback" not in proc.stderr and "MarkupError" not in proc.stderr, proc.stderr
    assert proc.returncode == 2
    assert "ok      good[bold]" in proc.stdout  # the other entry is still validated
    invalid = [line for line in proc.stdout.splitlines() if line.startswith("invalid bad[red]:")]
    assert len(invalid) == 1 and "[/x]\\n[bold]forged" in invalid[0]
    assert good.exists()
    proc = _cli("leaderboard", "validate", str(tmp_path / "missing[/x]"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error:") and "missing[/x]" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- 5. output injection


def _hostile_board(tmp_path: Path, ps: ProbeSet) -> Path:
    folder = make_entry(tmp_path / "board", "evil\n\\input{passwd}", [ps], 0.6)
    meta = json.loads((folder / "submission.json").read_text())
    meta.update(model="=HYPERLINK(\"http://x\")", backbone="-2+3|<script>alert(1)</script>",
                method="@SUM(A1)\n| forged | row |")
    (folder / "submission.json").write_text(json.dumps(meta))
    return tmp_path / "board"


def test_a_javascript_url_in_submission_json_is_refused(tmp_path, ssv2):
    ps, _ = ssv2
    folder = make_entry(tmp_path, "e", [ps], 0.6)
    meta = json.loads((folder / "submission.json").read_text())
    meta["url"] = "javascript:alert(document.cookie)"
    (folder / "submission.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="url: expected an http"):
        load_entry(folder)


def test_html_links_only_http_urls():
    from actionbench.leaderboard.html import safe_url

    assert safe_url("https://arxiv.org/abs/2311.00000")
    for bad in ("javascript:alert(1)", "JAVASCRIPT:x", " javascript:x", "data:text/html,x", "//x", "http:"):
        assert not safe_url(bad), bad


def test_csv_cells_that_look_like_formulas_are_neutralised(tmp_path, ssv2):
    ps, folder = ssv2
    board = load_leaderboard(_hostile_board(tmp_path, ps), bootstrap_size=200, index=index_for({"s": ps}, tmp_path))
    rows = list(csv.DictReader(io.StringIO(render(board, "csv"))))
    assert rows[0]["model"] == "'=HYPERLINK(\"http://x\")"
    assert rows[0]["backbone"].startswith("'-2+3") and rows[0]["method"].startswith("'@SUM")
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@")), value


def test_markdown_cells_escape_pipes_newlines_and_html(tmp_path, ssv2):
    ps, _ = ssv2
    board = load_leaderboard(_hostile_board(tmp_path, ps), bootstrap_size=200, index=index_for({"s": ps}, tmp_path))
    md = render(board, "md")
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "| forged | row |" not in md and "\\| forged \\| row \\|" in md
    table_rows = [line for line in md.splitlines() if "HYPERLINK" in line or "SUM(A1)" in line]
    assert all(line.startswith("|") and line.endswith("|") for line in table_rows)


def test_latex_legend_and_cells_cannot_inject_commands(tmp_path, ssv2):
    ps, _ = ssv2
    board_dir = _hostile_board(tmp_path, ps)
    board = load_leaderboard(board_dir, bootstrap_size=200, index=index_for({"s": ps}, tmp_path), allow_mixed=True)
    board.notes.append("mixed tie policy: evil\n\\input{/etc/passwd} and x differ")  # as check_mixing writes it
    tex = render(board, "latex")
    assert "\\input{" not in tex
    for line in tex.splitlines():
        assert not line.startswith("\\input")


# --------------------------------------------------------------------- 6. atomic probe-set writer


def test_probe_set_save_swaps_a_whole_folder_in(tmp_path, ssv2):
    ps, _ = ssv2
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    ps.save(out)
    assert sorted(p.name for p in out.iterdir()) == ["clips.jsonl", "manifest.json", "probes.jsonl"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary sibling left behind"


def test_a_crash_while_saving_leaves_the_old_probe_set_whole(tmp_path, ssv2, monkeypatch):
    ps, folder = ssv2
    out = tmp_path / "out"
    shutil.copytree(folder, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    import actionbench.probes.schema as schema

    calls = []

    def dying(path, text):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a kill would, midway
        Path(path).write_text(text)

    small = make_probeset(tmp_path / "small", "ssv2", n_videos=2, clips_per_video=1)
    monkeypatch.setattr(schema, "write_new_file", dying)
    with pytest.raises(KeyboardInterrupt):
        small.save(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert ProbeSet.load(out).probeset_id == ps.probeset_id


def test_probe_set_save_never_writes_through_a_symlink(tmp_path, ssv2):
    ps, _ = ssv2
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").symlink_to(victim)
    ps.save(out)
    assert victim.read_text() == "precious"
    assert not (out / "manifest.json").is_symlink()
    linked = tmp_path / "linked"
    linked.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ProbeSetError, match="symlink"):
        ps.save(linked)
    assert not (tmp_path / "elsewhere").exists()


def test_build_probes_cli_does_not_follow_a_manifest_symlink(tmp_path, real_ssv2):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").symlink_to(victim)
    proc = _cli("build-probes", "--dataset", "ssv2", "--annotations", str(real_ssv2), "--split", "val",
                "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious"


# ------------------------------------------------------------------------------ 8. permissions


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_bundles_and_probe_sets_get_the_umask_permissions(tmp_path, ssv2, mask):
    ps, _ = ssv2
    old = os.umask(mask)
    try:
        bundle = make_entry(tmp_path, "e", [ps], 0.6, metadata=False)
        ps.save(tmp_path / "ps")
    finally:
        os.umask(old)
    for path in (bundle / "results.json", bundle / "predictions.jsonl", tmp_path / "ps" / "manifest.json",
                 tmp_path / "ps" / "probes.jsonl"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path
    assert (tmp_path / "ps").stat().st_mode & 0o777 == 0o777 & ~mask


# ------------------------------------------------------------------- 9, 10, 12. readers at the boundary


def _write_ps(tmp_path: Path, ps_folder: Path, file: str, edit) -> Path:
    out = tmp_path / "edited"
    shutil.copytree(ps_folder, out)
    lines = (out / file).read_text().splitlines()
    if file.endswith(".jsonl"):
        record = json.loads(lines[0])
        edit(record)
        lines[0] = json.dumps(record)
        (out / file).write_text("\n".join(lines) + "\n")
    else:
        record = json.loads((out / file).read_text())
        edit(record)
        (out / file).write_text(json.dumps(record))
    return out


@pytest.mark.parametrize(("file", "edit", "message"), [
    ("clips.jsonl", lambda r: r.update(video=7), r"clips\.jsonl:1: video: expected a string"),
    ("clips.jsonl", lambda r: r.update(video="../../../../etc/passwd"), r"clips\.jsonl:1: video: .*climbs out"),
    ("clips.jsonl", lambda r: r.update(video="/etc/passwd"), r"clips\.jsonl:1: video: .*is absolute"),
    ("clips.jsonl", lambda r: r.update(start=1e308), r"clips\.jsonl:1: start: .*not a time"),
    ("clips.jsonl", lambda r: r.update(start=5.0, end=1.0), r"clips\.jsonl:1: end 1\.0 is before start"),
    ("probes.jsonl", lambda r: r.update(text=3), r"probes\.jsonl:1: text: expected a string"),
    ("probes.jsonl", lambda r: r.update(foil_text=3), r"probes\.jsonl:1: foil_text: expected a string"),
    ("probes.jsonl", lambda r: r.update(probe_id=12), r"probes\.jsonl:1: probe_id: expected a string"),
    ("manifest.json", lambda r: r.update(counts="many"), r"manifest\.json: counts: expected an object"),
])
def test_probe_set_fields_of_the_wrong_type_or_value_are_one_line_errors(tmp_path, ssv2, file, edit, message):
    _, folder = ssv2
    with pytest.raises(ProbeSetError, match=message):
        ProbeSet.load(_write_ps(tmp_path, folder, file, edit))


@pytest.mark.parametrize(("text", "message"), [
    ('{"a": NaN}', "NaN is not a number JSON allows"),
    ('{"a": Infinity}', "Infinity is not a number JSON allows"),
    ('{"a": 1e400}', "out of range"),
    ('{"a": ' + "1" * 401 + "}", "out of range"),
    ('{"a": 1, "a": 2}', "duplicate key 'a'"),
])
def test_strict_json_refuses_nan_overflow_and_duplicate_keys(tmp_path, text, message):
    from actionbench.files import read_json

    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_json(path)


def test_non_utf8_input_names_the_file_and_line(tmp_path):
    from actionbench.files import read_jsonl

    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": "\xff\xfe"}\n')
    with pytest.raises(InputError, match=r"x\.jsonl:2: not UTF-8"):
        list(read_jsonl(path))


def test_a_duplicate_probe_line_names_both_lines(tmp_path, ssv2):
    _, folder = ssv2
    out = tmp_path / "dup"
    shutil.copytree(folder, out)
    lines = (out / "probes.jsonl").read_text().splitlines()
    (out / "probes.jsonl").write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(ProbeSetError, match=rf"probes\.jsonl:{len(lines) + 1}: duplicate probe_id \w+ \(first on line 1\)"):
        ProbeSet.load(out)


def test_a_huge_prediction_score_is_one_invalid_entry_not_a_crash(tmp_path, ssv2):
    ps, folder = ssv2
    make_entry(tmp_path / "board", "good", [ps], 0.6)
    bad = make_entry(tmp_path / "board", "bad", [ps], 0.6)
    lines = (bad / "predictions.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    lines[0] = json.dumps(row).replace(json.dumps(row["s_true"]), "1" + "0" * 400, 1)
    (bad / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    out = CliRunner().invoke(leaderboard_app, ["validate", str(tmp_path / "board"), "--probes", str(folder)])
    assert out.exit_code == 2 and out.exception is None or isinstance(out.exception, SystemExit)
    assert "ok      good" in out.output and "invalid bad:" in out.output and "out of range" in out.output


@pytest.mark.parametrize("size", [0, 1, 10, 10**9])
def test_a_bootstrap_size_that_collapses_intervals_is_refused(tmp_path, ssv2, size):
    ps, _ = ssv2
    folder = make_entry(tmp_path, "e", [ps], 0.6)
    results, preds = read_bundle(folder)
    results["bootstrap"]["size"] = size
    (folder / "results.json").write_text(json.dumps(results))
    with pytest.raises(BundleError, match="bootstrap.size"):
        load_entry(folder)
    with pytest.raises(MetricsError, match="bootstrap size"):
        summarize(preds, bootstrap_size=size)


def test_ssv2_ids_that_would_leave_the_videos_folder_and_labels_that_are_not_text_are_refused(tmp_path):
    from actionbench.datasets.records import AnnotationError
    from actionbench.datasets.ssv2 import read_ssv2

    good = {"id": "1", "label": "holding a pen", "template": "Holding [something]", "placeholders": ["a pen"]}
    for record, message in [
        ({**good, "id": "../../etc/passwd"}, "id: expected a video id"),
        ({**good, "id": True}, "id: expected a video id"),
        ({**good, "label": 5}, "label: expected text"),
        ({**good, "template": None}, "template: expected text"),
        ({**good, "placeholders": [1]}, "placeholders: expected a list of texts"),
    ]:
        path = tmp_path / "validation.json"
        path.write_text(json.dumps([record]))
        with pytest.raises(AnnotationError, match=message):
            read_ssv2(path, labels=tmp_path / "none.json")
    path.write_text(json.dumps([good, good]))
    with pytest.raises(AnnotationError, match=r"record 1 \(id 1\): duplicate id \(first in record 0\)"):
        read_ssv2(path, labels=tmp_path / "none.json")
    path.write_text('[{"id": "1", "label": NaN, "template": "Holding [something]", "placeholders": ["a"]}]')
    with pytest.raises(AnnotationError, match="NaN"):
        read_ssv2(path, labels=tmp_path / "none.json")


def test_egoclip_uids_and_windows_are_checked(tmp_path):
    from actionbench.datasets.ego4d import read_egoclip
    from actionbench.datasets.records import AnnotationError

    base = {"video_uid": "v1", "clip_uid": "c1", "clip_text": "#C C picks a cup", "clip_relative_start": 1.0,
            "clip_relative_end": 2.0}
    for change, message in [
        ({"clip_uid": "../../etc/passwd"}, "clip_uid: expected a uid"),
        ({"video_uid": 12}, "video_uid: expected a uid"),
        ({"clip_relative_start": "1e308"}, "out of range"),
        ({"clip_relative_start": -3.0}, "negative"),
    ]:
        path = tmp_path / "egoclip.jsonl"
        path.write_text(json.dumps({**base, **change}) + "\n")
        with pytest.raises(AnnotationError, match=message):
            read_egoclip(path)


def test_the_cli_reports_bad_input_in_one_line_with_exit_2(tmp_path, ssv2):
    _, folder = ssv2
    edited = _write_ps(tmp_path, folder, "manifest.json", lambda r: r.update(counts="x"))
    proc = _cli("doctor", "--probes", str(edited), "--videos", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "manifest.json: counts: expected an object" in proc.stderr


def test_a_nan_in_results_fails_before_an_existing_bundle_is_touched(tmp_path, ssv2):
    ps, _ = ssv2
    folder = make_entry(tmp_path, "e", [ps], 0.6, metadata=False)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    results, preds = read_bundle(folder)
    results["model"]["logit_scale"] = float("nan")
    with pytest.raises(BundleError, match="cannot be written as JSON"):
        write_bundle(folder, results, preds[:3])
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_nan_in_a_manifest_is_a_one_line_error(tmp_path, ssv2):
    _, folder = ssv2
    out = tmp_path / "nan"
    shutil.copytree(folder, out)
    text = (out / "manifest.json").read_text().replace('"parameters": {}', '"parameters": {"x": NaN}')
    (out / "manifest.json").write_text(text)
    with pytest.raises(ProbeSetError, match=r"manifest\.json: NaN is not a number JSON allows"):
        ProbeSet.load(out)


def test_a_duplicate_clip_line_is_refused(tmp_path, ssv2):
    _, folder = ssv2
    out = tmp_path / "dup"
    shutil.copytree(folder, out)
    lines = (out / "clips.jsonl").read_text().splitlines()
    (out / "clips.jsonl").write_text("\n".join([*lines, lines[-1]]) + "\n")
    with pytest.raises(ProbeSetError, match=rf"clips\.jsonl:{len(lines) + 1}: duplicate clip_id"):
        ProbeSet.load(out)


def test_build_probes_on_non_utf8_annotations_is_one_line_with_exit_2(tmp_path):
    (tmp_path / "validation.json").write_bytes(b'[{"id": "1", "label": "holding \xff a pen"}]')
    proc = _cli("build-probes", "--dataset", "ssv2", "--annotations", str(tmp_path / "validation.json"),
                "--split", "val", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "not UTF-8" in proc.stderr
    assert not (tmp_path / "out").exists()
