"""Output that reads in any terminal: tables never cut a value (80 columns, a pipe), progress says counts and
rates live in a terminal and in plain periodic lines in a log."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from test_leaderboard import make_entry, make_probeset

from actionbench.leaderboard import render_terminal
from actionbench.progress import progress_bar
from actionbench.tables import print_table, results_table, table_rows

NUMBER = re.compile(r"\d[\d,.]*")


def _consoles() -> dict[str, tuple[Console, io.StringIO]]:
    out = {}
    for name, kwargs in {"80-column terminal": {"width": 80, "force_terminal": True},
                         "pipe": {"width": 80, "force_terminal": False}}.items():
        buf = io.StringIO()
        out[name] = (Console(file=buf, **kwargs), buf)
    return out


def _assert_whole(table, printed: str) -> None:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", printed)
    assert "…" not in plain
    _, rows = table_rows(table)
    for row in rows:
        for cell in row:
            for number in NUMBER.findall(cell):  # every number of every cell, whole, on the row's line
                assert re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d.,])", plain), (number, plain)
        assert any(all(c in line for c in row if c) for line in plain.splitlines()), row


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    sets = [make_probeset(root / "ego4d", "ego4d", 20, 3), make_probeset(root / "ssv2", "ssv2", 60, 1)]
    runs = root / "runs"
    make_entry(runs, "testnet", sets, 0.5)
    make_entry(runs, "testnet-patched", sets, 0.95, method="KP-Perceiver")
    make_entry(runs, "testnet-blind", sets, 0.5, method="blind control")
    return runs


def test_the_leaderboard_keeps_every_number_whole_at_80_columns_and_in_a_pipe(board: Path) -> None:
    table = render_terminal([board], bootstrap_size=200)
    assert len(table.columns) >= 11  # as wide as the demo's
    for name, (console, buf) in _consoles().items():
        print_table(console, table)
        _assert_whole(table, buf.getvalue())
        assert "│" not in buf.getvalue(), f"{name}: the table does not fit 80 columns, so it is plain text"


def test_results_tables_keep_their_intervals_whole() -> None:
    cell = {"accuracy": 71.04, "ci95": [36.01, 41.99], "n": 660, "tie_rate": 0.0, "missing": 0}
    results = {"model": {"name": "kp-perceiver-vtc-dvdm-mini"}, "ties": "half", "subset": None, "partial": False,
               "results": {"ssv2": {t: dict(cell) for t in ("action_antonym", "video_reversal", "object_replacement")},
                           "ego4d": {"action_antonym": dict(cell)}},
               "consistent": {"ssv2": {"accuracy": 55.5}, "ego4d": {"accuracy": 60.0}}}
    table = results_table(results)
    for console, buf in (c for c in _consoles().values()):
        print_table(console, table)
        _assert_whole(table, buf.getvalue())
        assert "71.0 (36.0-42.0)" in buf.getvalue().replace("\x1b[2m", "").replace("\x1b[0m", "")
    wide = Console(file=io.StringIO(), width=200, force_terminal=True)
    print_table(wide, table)
    assert "┃" in wide.file.getvalue()  # a terminal wide enough still gets the rich table


def _cli(*args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    proc = subprocess.run([sys.executable, "-m", "actionbench", *args], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_models_piped_names_every_model_whole_in_plain_and_json() -> None:
    listed = json.loads(_cli("models", "--format", "json").stdout)
    names = [m["name"] for m in listed]
    assert {"chance", "clip", "kp-perceiver-vtc-dvdm-mini"} <= set(names)
    assert all(set(m) == {"name", "wraps_a_model", "description", "weights_needed", "source"} for m in listed)
    for fmt in ("plain", "table"):  # the default table is plain text in a pipe
        out = _cli("models", "--format", fmt).stdout
        assert "…" not in out and "│" not in out
        for m in listed:
            shown = f"{m['name']}:<...>" if m["wraps_a_model"] else m["name"]
            assert re.search(rf"^{re.escape(shown)}\s", out, re.M), shown
            assert m["description"] in out


def test_progress_in_a_log_is_plain_periodic_lines_with_counts_and_rates() -> None:
    buf = io.StringIO()
    with progress_bar(console=Console(file=buf, width=80), info=True, every=0.0) as bar:
        task = bar.add_task("training the mini backbone", total=40, info="")
        for step in range(40):
            bar.update(task, advance=1, info=f"loss {1 / (step + 1):.3f}")
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("training the mini backbone: 0/40 (0%)")
    assert lines[-1].startswith("training the mini backbone: 40/40 (100%), ") and "/s" in lines[-1]
    assert lines[-1].endswith("loss 0.025")
    assert not any("\x1b" in line or "\r" in line for line in lines)  # no redraws, no colours in a log


def test_progress_lines_come_at_most_every_period_and_always_at_the_end() -> None:
    buf = io.StringIO()
    with progress_bar(console=Console(file=buf, width=80), every=3600) as bar:
        task = bar.add_task("videos", total=1000)
        for _ in range(1000):
            bar.advance(task)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("videos: 0/1,000")
    assert lines[1].startswith("videos: 1,000/1,000 (100%)")


def test_progress_in_an_80_column_terminal_keeps_its_counts() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True)
    with progress_bar(console=console, info=True) as bar:
        task = bar.add_task("training KP-Perceiver [VTC+DVDM] on the frozen tokens of the mini backbone",
                            total=1200, info="")
        bar.update(task, advance=300, info="loss 0.512  v2t_acc 0.812  aa_acc 0.904  vr_acc 0.500")
        bar.refresh()
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue()).split("\r")[-1].strip().splitlines()[-1]
    assert "300/1200" in last and "/s" in last
    assert len(last) <= 80
    shown = [item for item in ("loss 0.512", "v2t_acc 0.812", "aa_acc 0.904") if item in last]
    assert shown and all(re.findall(r"\d\.\d{3}(?!\d)", last))  # info items whole or not at all
