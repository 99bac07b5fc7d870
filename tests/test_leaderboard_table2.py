"""Table 2 of the paper (downstream tasks) from the shipped reported bundles, in every format."""

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

from actionbench.bundle import BundleError
from actionbench.leaderboard import DownstreamBoard, load_entries, load_entry, load_leaderboard, render
from actionbench.leaderboard.downstream import downstream_only
from actionbench.leaderboard.validate import ProbeSetIndex, validate_entry

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / "submissions"
PAXION = SUBMISSIONS / "paper-downstream-internvideo-paxion-vtc-dvdm"


def _md_tables(lines: list[str]) -> list[list[list[str]]]:
    """Every Markdown table in the lines, as rows of cells (separator lines dropped)."""
    tables, current = [], []
    for line in lines + [""]:
        if line.startswith("|"):
            if not set(line.replace("|", "").strip()) <= {"-", ":", " "}:
                current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


def test_plain_markdown_of_the_shipped_submissions_equals_the_papers_table_2(shared_data):
    reference = (shared_data.parent / "REFERENCE.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(reference) if line.startswith("### Table 2"))
    end = next(i for i, line in enumerate(reference) if i > start and line.startswith("## "))
    expected = _md_tables(reference[start:end])
    assert len(expected) == 2 and [len(t) for t in expected] == [6, 6]  # retrieval and NExT-QA, 5 rows each
    board = load_leaderboard(SUBMISSIONS, table=2)
    assert isinstance(board, DownstreamBoard)
    got = _md_tables(render(board, "md", plain=True).splitlines())
    assert got == expected


def test_table_1_and_table_2_keep_to_their_own_rows():
    table1 = load_leaderboard(SUBMISSIONS)
    assert len(table1.rows) == 13 and not any(r.entry.name.startswith("paper-downstream-") for r in table1.rows)
    table2 = load_leaderboard(SUBMISSIONS, table=2)
    assert [r.entry.name for r in table2.rows] == [
        "paper-downstream-internvideo-backbone", "paper-downstream-internvideo-kp-transformer-ft-vtc",
        "paper-downstream-internvideo-kp-perceiver-ft-vtc", "paper-downstream-internvideo-side-tuning-vtc-dvdm",
        "paper-downstream-internvideo-paxion-vtc-dvdm"]
    with pytest.raises(ValueError, match="unknown table 3"):
        load_leaderboard(SUBMISSIONS, table=3)


def test_every_shipped_downstream_submission_is_a_valid_reported_entry():
    entries = [e for e in load_entries(SUBMISSIONS) if downstream_only(e)]
    assert len(entries) == 5
    for e in entries:
        validate_entry(e, ProbeSetIndex({}))
        assert e.submission.source == "reported" and e.submission.backbone == "InternVideo"
        assert "Table 2" in (e.submission.paper or "") and "2305.10683" in (e.submission.url or "")
        for tasks in e.results["results"].values():
            for cell in tasks.values():
                assert cell and all(isinstance(v, float) for v in cell.values())  # numbers, never text


def test_latex_csv_and_html_carry_the_same_numbers():
    board = load_leaderboard(SUBMISSIONS, table=2)
    tex = render(board, "latex")
    assert r"\toprule" in tex and r"PAXION [VTC+DVDM] & \textbf{32.3} & \textbf{61.2}" in tex
    assert "InternVideo Backbone & 43.3 & 38.6 & 52.5 & 43.2 & 27.0 & 27.3 & 27.1" in tex
    rows = {r["entry"]: r for r in csv.DictReader(io.StringIO(render(board, "csv")))}
    side = rows["paper-downstream-internvideo-side-tuning-vtc-dvdm"]
    assert (side["ssv2_label_r1_v2t"], side["temporal_ssv2_r5_v2t"], side["nextqa_accuracy_descriptive"],
            side["nextqa_atp_hard_accuracy"]) == ("30.9", "90.9", "69.8", "36.8")
    html = render(board, "html")
    assert html.startswith("<!DOCTYPE html>") and "<th" in html and ">Temporal-SSv2 R1</th>" in html
    assert 'data-entry="paper-downstream-internvideo-paxion-vtc-dvdm"' in html and '<td class="best">91.9</td>' in html
    assert "**" not in render(board, "md", plain=True) and "**32.3**" in render(board, "md")


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["results"]["ssv2_label"]["video_text_retrieval"].update(r1_v2t="32.3%"),
     r"results\.ssv2_label\.video_text_retrieval\.r1_v2t: expected a number"),
    (lambda r: r["results"]["ssv2_label"]["video_text_retrieval"].update(r50_v2t=1.0),
     r"results\.ssv2_label\.video_text_retrieval: unknown metric 'r50_v2t'"),
    (lambda r: r["results"].update(nextqa={"video_text_retrieval": {"r1_v2t": 1.0}}),
     r"results\.nextqa\.video_text_retrieval: 'nextqa' is not a video_text_retrieval dataset "
     r"\(it is multiple_choice_qa\)"),
    (lambda r: r["results"].update(ssv2={"action_antonym": {"r1_v2t": 1.0}}),
     r"results\.ssv2\.action_antonym\.accuracy: missing"),
    (lambda r: r["results"].update(ssv2={"grounding": {"accuracy": 1.0}}), r"results\.ssv2: unknown task 'grounding'"),
])
def test_malformed_reported_downstream_numbers_are_refused(tmp_path, edit, message):
    folder = tmp_path / "bad"
    shutil.copytree(PAXION, folder)
    results = json.loads((folder / "results.json").read_text())
    edit(results)
    (folder / "results.json").write_text(json.dumps(results))
    with pytest.raises(BundleError, match=message):
        load_entry(folder)


def test_render_table_2_from_the_command_line(tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "actionbench", "leaderboard", "render", str(SUBMISSIONS), "--table", "2",
           "--plain"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "| PAXION [VTC+DVDM] | 56.0 | 53.0 | 68.5 | 57.0 | 38.8 | 38.1 | 38.5 |" in proc.stdout
    proc = subprocess.run(cmd[:-1] + ["--table", "7"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "unknown table 7" in proc.stderr and "Traceback" not in proc.stderr


def test_the_papers_nextqa_all_is_the_group_mean_weighted_by_the_genuine_validation_file(shared_data):
    """The reported 'all' of every row is C, T and D weighted by the validation file's group sizes (to the
    rounding of the printed numbers): the paper's NExT-QA numbers are on the 4,996 validation questions."""
    from collections import Counter

    from actionbench.datasets.nextqa import read_nextqa

    path = shared_data / "real" / "nextqa" / "val.csv"
    if not path.is_file():
        pytest.skip("genuine NExT-QA validation file absent")
    sizes = Counter(q.group for q in read_nextqa(path))
    for e in (e for e in load_entries(SUBMISSIONS) if downstream_only(e)):
        cell = e.results["results"]["nextqa"]["multiple_choice_qa"]
        weighted = (cell["accuracy_causal"] * sizes["C"] + cell["accuracy_temporal"] * sizes["T"]
                    + cell["accuracy_descriptive"] * sizes["D"]) / sum(sizes.values())
        assert abs(weighted - cell["accuracy"]) < 0.05, e.name  # each printed number is within 0.05 of its own


def test_table_2_html_is_balanced_and_escapes_names(tmp_path):
    from html.parser import HTMLParser

    folder = tmp_path / "subs"
    shutil.copytree(PAXION, folder / "odd")
    meta = json.loads((folder / "odd" / "submission.json").read_text())
    meta["method"] = "<b>P&F</b>"
    (folder / "odd" / "submission.json").write_text(json.dumps(meta))
    html = render(load_leaderboard(folder, table=2), "html")

    class Balance(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag not in ("meta",):
                self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack and self.stack.pop() == tag

    parser = Balance()
    parser.feed(html)
    assert parser.stack == []
    assert "&lt;b&gt;P&amp;F&lt;/b&gt; [VTC+DVDM]" in html and "<b>P&F</b>" not in html
    assert r"P\&F" in render(load_leaderboard(folder, table=2), "latex")
