"""Third-party models without forking: an installed distribution with `actionbench.models` entry points, and a
`path/to/file.py:factory`, both evaluated through the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _evalkit import make_suite

from actionbench.bundle import read_bundle
from actionbench.models.registry import create_model, load_registry, model_kind

PLUGIN = textwrap.dedent('''
    """A toy plugin: what a third party ships to put its model on ActionBench."""
    import torch

    from actionbench.models.protocol import CrossEncoder, ModelSpec, Preprocess, VideoTextModel

    COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0), "yellow": (1.0, 1.0, 0.0)}


    class ColourTrend(VideoTextModel):
        """Video: mean colour, weighted towards the end; text: the colour it names."""

        preprocess = Preprocess(size=(16, 16), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

        def __init__(self, gain: float = 1.0):
            self.gain = gain

        def encode_videos(self, frames):
            t = frames.shape[1]
            w = torch.linspace(0.5, 1.5, t).view(1, t, 1)
            return self.gain * (frames.mean(dim=(3, 4)) * w).mean(dim=1)

        def encode_texts(self, texts):
            return torch.tensor([next((c for k, c in COLOURS.items() if k in s.lower()), (0.3, 0.3, 0.3))
                                 for s in texts])


    class LengthCross(CrossEncoder):
        """A cross-encoder: brightness of the video times the text's length."""

        preprocess = Preprocess(size=(16, 16))

        def score(self, frames, texts):
            b = frames.mean(dim=(1, 2, 3, 4))
            return b[:, None] * torch.tensor([float(len(t)) for t in texts])[None, :]


    def make_toy(gain: float = 1.0):
        """Mean colour of the frames vs the colour a text names."""
        return ColourTrend(gain)


    SPECS = [
        ModelSpec("toy-cross", lambda: LengthCross(), description="brightness x text length", weights="none"),
        ModelSpec("toyp", lambda rest, gain=1.0: ColourTrend(gain * len(rest)), prefix=True,
                  description="toyp:<word>: gain = length of the word"),
    ]
''')


def install_plugin(site: Path) -> Path:
    """A real (if tiny) installed distribution: a package and its dist-info with entry points."""
    (site / "ab_toy_plugin").mkdir(parents=True)
    (site / "ab_toy_plugin" / "__init__.py").write_text(PLUGIN)
    info = site / "ab_toy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ab-toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[actionbench.models]\n"
        "toy = ab_toy_plugin:make_toy\n"
        "toys = ab_toy_plugin:SPECS\n"
        "broken = ab_toy_plugin.missing:make\n"
    )
    (info / "RECORD").write_text("")
    return site


@pytest.fixture
def plugin(tmp_path, monkeypatch) -> Path:
    site = install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [m for m in sys.modules if m.startswith("ab_toy_plugin")]:
        del sys.modules[name]


def test_entry_points_register_factories_specs_and_prefixes(plugin):
    registry = load_registry()
    assert registry.specs["toy"].source == "entry point (ab-toy-plugin)"
    assert registry.specs["toy"].description == "Mean colour of the frames vs the colour a text names."
    assert model_kind(create_model("toy-cross")) == "cross"
    assert create_model("toyp:abc").gain == 3.0
    assert create_model("toy", {"gain": 2.0}).gain == 2.0
    assert create_model("blind:toy").name == "blind:toy"  # controls wrap plugins too
    assert "broken" in registry.broken and "ModuleNotFoundError" in registry.broken["broken"]


def test_models_command_lists_plugins_and_warns_about_broken_ones(plugin):
    from typer.testing import CliRunner

    import actionbench.cli.evaluation  # noqa: F401  (registers the commands)
    from actionbench.cli import app

    result = CliRunner().invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "toy-cross" in result.output and "toyp:<...>" in result.output and "ab-toy-plugin" in result.output
    assert "plugin 'broken' failed to load" in result.output


@pytest.mark.slow
def test_an_installed_plugin_and_a_file_factory_are_evaluated_through_the_cli(tmp_path):
    site = install_plugin(tmp_path / "site")
    probes, videos = make_suite(tmp_path, n_clips=6)
    model_file = tmp_path / "models" / "my_model.py"
    model_file.parent.mkdir()
    model_file.write_text("import ab_toy_plugin\n\ndef build(gain=1.0):\n    return ab_toy_plugin.LengthCross()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    common = ["--probes", str(probes), "--videos", str(videos), "--workers", "0", "--no-cache"]
    for model, extra, out in [("toy", ["--model-arg", "gain=2"], "toy"), ("toy-cross", [], "cross"),
                              (f"{model_file}:build", [], "file")]:
        done = subprocess.run([sys.executable, "-m", "actionbench", "eval", "--model", model, *extra, *common,
                               "--out", str(tmp_path / out)], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    toy, toy_predictions = read_bundle(tmp_path / "toy")
    assert toy["model"]["name"] == "toy" and toy["model"]["args"] == {"gain": 2}
    assert len(toy_predictions) == 18 and toy["temporally_blind"] is False
    cross, _ = read_bundle(tmp_path / "cross")
    assert cross["model"]["kind"] == "cross"
    file_model, file_predictions = read_bundle(tmp_path / "file")
    assert file_model["model"]["name"] == f"{model_file}:build" and len(file_predictions) == 18
