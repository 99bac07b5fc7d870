"""The paper's backbones are leaderboard entries: listed with what they need, created from an official-layout
checkpoint through the registry, and scored by the harness."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from _evalkit import make_suite
from test_backbones_paper import SMALL_INTERNVIDEO, official_file, small

import actionbench
from actionbench.models.protocol import ModelError
from actionbench.models.registry import create_model, load_registry

PAPER = ("internvideo", "clipvip", "singularity")


def test_models_lists_paper_backbones_and_paxion_entries_with_their_checkpoints() -> None:
    registry = load_registry()
    names = registry.specs
    for bb in PAPER:
        for entry in (bb, f"kp-perceiver-vtc-{bb}", f"kp-perceiver-vtc-dvdm-{bb}", f"kp-transformer-vtc-{bb}",
                      f"sidetuning-{bb}", f"paxion-{bb}"):
            assert entry in names, entry
        assert "checkpoint" in names[bb].weights
    assert "our extension" in names["paxion-clipvip"].description
    assert "our extension" not in names["paxion-internvideo"].description


def test_a_paper_backbone_needs_its_checkpoint() -> None:
    with pytest.raises(ModelError, match="internvideo: needs --checkpoint"):
        create_model("internvideo", {})


def test_internvideo_from_an_official_layout_file_is_scored_by_the_harness(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    model, layout, extras = small("internvideo")
    path = tmp_path / "InternVideo-MM-L-14.safetensors"
    official_file(model, layout, extras, path)
    entry = create_model("internvideo", {"checkpoint": str(path), **asdict(SMALL_INTERNVIDEO)})
    assert entry.weights_hash and not entry.order_invariant
    probes, videos = make_suite(tmp_path / "suite", n_clips=4)
    results, predictions = actionbench.evaluate(entry, [probes], [videos], cache=False)
    assert len(predictions) == 12
    assert results["model"]["weights_hash"] == entry.weights_hash
    assert not results["results"]["ssv2"]["video_reversal"].get("temporally_blind")
