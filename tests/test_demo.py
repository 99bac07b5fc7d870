"""The demo's presentation: stages with progress, complete runs apart from subset runs, leaderboard files that
`leaderboard validate` accepts, folder names without colons, no library noise.

The demo's models are swapped for cheap ones (chance and its controls) so this runs in seconds; the full demo
runs in CI through `.ci/run`."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _evalkit import write_tiny_config
from rich.console import Console

from actionbench import demo

pytestmark = pytest.mark.slow  # the mini benchmark is generated and its probe sets built (about 20 s)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("demo") / "actionbench-demo"
    stages_called = []

    def stages(*, out, sets, seed, console, evaluate_rows, downstream):  # what a training plug-in hands back: its runs
        stages_called.append(sorted(sets))
        return evaluate_rows([("first-frame:chance", "first-frame:chance", {}, None)], sets, out, console)

    mp = pytest.MonkeyPatch()
    mp.setattr(demo, "builtin_rows", lambda: [("chance", "chance", {}, None), ("blind:chance", "blind:chance", {}, 40)])
    mp.setattr(demo, "_paxion_stages", lambda: stages)
    buf = io.StringIO()
    err = io.StringIO()
    mp.setattr(sys, "stderr", err)  # progress goes to stderr: here a log, not a terminal
    try:
        files = demo.run_demo(out, size="tiny", console=Console(file=buf, width=80))
    finally:
        mp.undo()
    assert stages_called == [["ego4d-train", "ego4d-val", "ssv2-train", "ssv2-val"]]
    return out, files, buf.getvalue(), err.getvalue()


def test_the_demo_writes_a_markdown_and_an_html_leaderboard_and_says_how_to_open_it(demo_run) -> None:
    out, files, stdout, _ = demo_run
    assert files == [out / "leaderboard.md", out / "leaderboard.html"]
    md, page = (f.read_text(encoding="utf-8") for f in files)
    assert "chance (random scores)" in md and "first-frame control" in md
    assert page.lstrip().lower().startswith("<!doctype html") and "chance (random scores)" in page
    for f in files:
        assert f"wrote {f.resolve()}" in stdout
    assert f"python -m webbrowser {files[1].resolve().as_uri()}" in stdout


def test_the_leaderboard_runs_are_a_complete_run_set_that_validate_accepts(demo_run) -> None:
    out, _, _, _ = demo_run
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["chance", "first-frame-chance"]  # no colons; the subset run is kept apart
    assert [p.name for p in (out / "subset-runs").iterdir()] == ["blind-chance"]
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "actionbench", "leaderboard", "validate", str(out / "runs"),
                           "--probes-root", str(out / "probes")], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 entries valid" in proc.stdout
    render = subprocess.run([sys.executable, "-m", "actionbench", "leaderboard", "render", str(out / "runs"),
                             "--probes-root", str(out / "probes")],
                            capture_output=True, text=True, env=env)
    assert render.returncode == 0, render.stderr
    subset = subprocess.run([sys.executable, "-m", "actionbench", "leaderboard", "render", str(out / "subset-runs"),
                             "--probes-root", str(out / "probes")],
                            capture_output=True, text=True, env=env)
    assert subset.returncode != 0 and "a subset run (40 probes chosen by probe-id hash" in subset.stderr
    assert "unit_interval" not in subset.stderr and "actionbench.ids" not in subset.stderr


def test_chance_is_a_reference_row_not_a_backbone(demo_run) -> None:
    _, files, stdout, _ = demo_run
    table = stdout[stdout.index("ActionBench leaderboard"):]
    chance = next(line for line in table.splitlines() if line.startswith("reference"))
    assert "chance (random scores)" in chance and "Backbone " not in chance


def test_every_stage_reports_its_time_and_progress_lines_in_a_log(demo_run) -> None:
    _, _, stdout, stderr = demo_run
    for stage in ("Mini benchmark and its probe sets", "Built-in models and controls", "Leaderboard of"):
        assert any(line.startswith(stage) and ": done in " in line for line in stdout.splitlines()), stage
    assert "stage times: " in stdout
    assert "writing the mini benchmark's videos: " in stderr
    assert any(line.startswith("chance: videos: ") and "(100%)" in line for line in stderr.splitlines())
    assert "\r" not in stderr and "\x1b" not in stderr and "…" not in stdout


def test_random_init_clip_says_nothing_through_the_root_logger(tmp_path: Path, caplog) -> None:
    import open_clip

    from actionbench.models.registry import create_model

    config = write_tiny_config(tmp_path)
    caplog.set_level(logging.WARNING)
    create_model(f"clip:{config}")
    assert "No pretrained weights" not in caplog.text
    open_clip.create_model("tinyclip", pretrained=None)  # the library's own line, which the model silences
    assert "No pretrained weights" in caplog.text
