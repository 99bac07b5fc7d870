"""What an Action Antonym foil contrasts (edit.relation): counted, subset by build-probes --aa-relations, and
the Ego4D preposition / object-group figures of the probe-set report (issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from actionbench.datasets.ssv2 import read_ssv2
from actionbench.probes.build import build_probes
from actionbench.probes.report import audit


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "actionbench", *args], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def ssv2_clips(real_ssv2: Path):
    return read_ssv2(real_ssv2 / "validation.json", "val").clips


def test_every_aa_probe_says_its_relation_and_the_manifest_counts_them(ssv2_clips) -> None:
    ps = build_probes(ssv2_clips, dataset="ssv2", split="val")
    aa = [p for p in ps.probes if p.task == "action_antonym"]
    rel = Counter(p.edit["relation"] for p in aa)
    assert set(rel) <= {"inverse", "outcome", "undo"} and rel["inverse"] and rel["outcome"]
    assert ps.manifest.relations == dict(sorted(rel.items()))
    assert audit(ps).relations == rel


def test_aa_relations_keeps_a_subset_with_its_own_id(ssv2_clips) -> None:
    full = build_probes(ssv2_clips, dataset="ssv2", split="val")
    inverse = build_probes(ssv2_clips, dataset="ssv2", split="val", aa_relations=["inverse"])
    assert inverse.probeset_id != full.probeset_id
    assert inverse.manifest.parameters["aa_relations"] == ["inverse"]
    aa = [p for p in inverse.probes if p.task == "action_antonym"]
    assert aa and all(p.edit["relation"] == "inverse" for p in aa)
    # VR keeps exactly the clips of AA; OR is untouched
    vr = {p.clip_id for p in inverse.probes if p.task == "video_reversal"}
    assert vr == {p.clip_id for p in aa}
    assert inverse.manifest.counts["object_replacement"] == full.manifest.counts["object_replacement"]
    dropped = inverse.manifest.dropped["action_antonym"]
    assert dropped["relation not kept: outcome"] == full.manifest.relations["outcome"]
    with pytest.raises(ValueError, match="unknown AA relation 'sideways'"):
        build_probes(ssv2_clips, dataset="ssv2", split="val", aa_relations=["sideways"])


def test_build_probes_cli_subsets_and_reports(real_ego4d: Path, tmp_path: Path) -> None:
    out = tmp_path / "ego"
    r = cli("build-probes", "--dataset", "ego4d", "--annotations", str(real_ego4d / "egoclip_subset.jsonl"),
            "--split", "all", "--out", str(out), "--workers", "1", f"--report={tmp_path / 'audit.md'}")
    assert r.returncode == 0, r.stderr
    assert "foils rewritten to the antonym's frame" in r.stdout and "action_antonym relations: inverse" in r.stdout
    full = (tmp_path / "audit.md").read_text(encoding="utf-8")
    assert "from > on" in full and "Action Antonym probes per relation" in full and "isa:container" in full
    bad = cli("build-probes", "--dataset", "ego4d", "--annotations", str(real_ego4d / "egoclip_subset.jsonl"),
              "--out", str(tmp_path / "x"), "--aa-relations", "sideways")
    text = bad.stdout + bad.stderr
    assert bad.returncode != 0 and "unknown relation 'sideways'" in text and "Traceback" not in text


def test_ego4d_foils_keep_no_preposition_their_antonym_cannot_take(real_ego4d: Path) -> None:
    """On the genuine sample: every rewritten preposition is one the antonym's row lists."""
    from actionbench.datasets.ego4d import read_egoclip
    from actionbench.lexicon import Lexicon
    from actionbench.probes.ego4d import source_goal_preposition

    lexicon = Lexicon.load()
    ps = build_probes(read_egoclip(real_ego4d / "egoclip_subset.jsonl").clips, dataset="ego4d", split="all")
    checked = 0
    for p in ps.probes:
        if p.task != "action_antonym":
            continue
        antonym = lexicon.ego4d.entries.get(p.edit["entry"]["antonym"])
        first = p.edit["changes"][0]  # the verb: its new words end here in the foil
        found = source_goal_preposition(p.foil_text, first["start"] + len(first["new"]))
        if found is not None and antonym is not None:
            checked += 1
            assert found[2] in antonym.prepositions, (p.text, p.foil_text)
    assert checked > 50
