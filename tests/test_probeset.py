"""Probe sets: deterministic, complete, auditable (the protocol's ids, seeds and manifest)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from actionbench.datasets.ssv2 import read_ssv2
from actionbench.probes.build import build_probes
from actionbench.probes.report import audit
from actionbench.probes.schema import TASKS, ProbeSet, ProbeSetError

BUILD = """
import sys
from pathlib import Path
from actionbench.datasets.ssv2 import read_ssv2
from actionbench.probes.build import build_probes
r = read_ssv2(Path(sys.argv[1]), "val")
build_probes(r.clips, dataset="ssv2", split="val", skipped=r.skipped).save(sys.argv[2])
"""


def _shuffled_copy(real_ssv2: Path, folder: Path, seed: int) -> Path:
    records = json.loads((real_ssv2 / "validation.json").read_text())
    random.Random(seed).shuffle(records)
    folder.mkdir()
    (folder / "validation.json").write_text(json.dumps(records))
    (folder / "labels.json").write_text((real_ssv2 / "labels.json").read_text())
    return folder


def test_probe_sets_are_byte_identical_across_processes_hash_seeds_and_input_order(real_ssv2: Path, tmp_path: Path) -> None:
    outs = []
    for i, hashseed in enumerate(("0", "12345")):
        ann = _shuffled_copy(real_ssv2, tmp_path / f"ann{i}", seed=i)
        out = tmp_path / f"probes{i}"
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        subprocess.run([sys.executable, "-c", BUILD, str(ann), str(out)], check=True, env=env)
        outs.append(out)
    for name in ("clips.jsonl", "probes.jsonl", "manifest.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_manifest_counts_every_dropped_clip_by_reason(real_ssv2: Path, tmp_path: Path) -> None:
    r = read_ssv2(real_ssv2, "val")
    ps = build_probes(r.clips, dataset="ssv2", split="val", skipped=r.skipped)
    m = ps.manifest
    n_clips = len(r.clips)
    assert m.counts["action_antonym"] + sum(m.dropped["action_antonym"].values()) == n_clips
    assert m.counts["video_reversal"] == m.counts["action_antonym"]
    assert m.counts["object_replacement"] + sum(m.dropped["object_replacement"].values()) == n_clips
    assert {p.clip_id for p in ps.probes if p.task == "video_reversal"} == {
        p.clip_id for p in ps.probes if p.task == "action_antonym"
    }
    assert "timestamp" not in json.dumps(m.to_dict())
    ps.save(tmp_path / "ps")
    again = ProbeSet.load(tmp_path / "ps")
    assert again.probeset_id == ps.probeset_id and len(again.probes) == len(ps.probes)


def test_a_different_seed_changes_object_foils_not_antonyms(real_ssv2: Path) -> None:
    r = read_ssv2(real_ssv2, "val")
    a = build_probes(r.clips, dataset="ssv2", split="val", seed=0)
    b = build_probes(r.clips, dataset="ssv2", split="val", seed=1)
    aa = lambda ps: {p.probe_id for p in ps.probes if p.task == "action_antonym"}  # noqa: E731
    assert aa(a) == aa(b)
    or_a = {p.clip_id: p.foil_text for p in a.probes if p.task == "object_replacement"}
    or_b = {p.clip_id: p.foil_text for p in b.probes if p.task == "object_replacement"}
    assert sum(or_a[k] != or_b[k] for k in or_a) > len(or_a) // 2
    assert a.probeset_id != b.probeset_id


def test_audit_shows_no_case_confound(real_ssv2: Path) -> None:
    r = read_ssv2(real_ssv2, "val")
    report = audit(build_probes(r.clips, dataset="ssv2", split="val"))
    for task in ("action_antonym", "object_replacement"):
        assert report.surface[task]["case differs (%)"] == 0.0
    assert set(report.antonym_kinds) <= {"closed", "open"}


def test_a_malformed_probe_line_names_file_and_line(tmp_path: Path, real_ssv2: Path) -> None:
    r = read_ssv2(real_ssv2, "val")
    folder = build_probes(r.clips[:20], dataset="ssv2", split="val").save(tmp_path / "ps")
    lines = (folder / "probes.jsonl").read_text().splitlines()
    lines[2] = lines[2][:-3]
    (folder / "probes.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ProbeSetError, match=r"probes.jsonl:3:\d+: malformed JSON"):
        ProbeSet.load(folder)


def test_tasks_are_the_protocol_ids() -> None:
    assert TASKS == ("action_antonym", "video_reversal", "object_replacement")


def test_building_in_several_processes_gives_the_same_bytes(real_ssv2: Path, monkeypatch) -> None:
    import actionbench.probes.build as build

    monkeypatch.setattr(build, "MIN_CHUNK", 50)
    r = read_ssv2(real_ssv2, "val")
    one = build_probes(r.clips, dataset="ssv2", split="val", workers=1)
    two = build_probes(r.clips, dataset="ssv2", split="val", workers=2)
    assert one.probeset_id == two.probeset_id
    assert [p.to_dict() for p in one.probes] == [p.to_dict() for p in two.probes]
