"""The originally released ActionBench files import as probe sets exactly as released."""

from __future__ import annotations

import json
from pathlib import Path

from actionbench.datasets.released import import_released


def test_ssv2_release_is_imported_verbatim(tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text(json.dumps({"Spinning something that quickly stops spinning": "148"}))
    records = [
        {"label": "Spinning cube that quickly stops spinning", "template": "Spinning [something] that quickly stops spinning",
         "placeholders": ["cube"], "template_action_antonym_clip_text": "Spinning something that quickly starts spinning",
         "label_action_antonym_clip_text": "Spinning cube that quickly starts spinning", "id": 74225,
         "label_object_shuffled_clip_text": "spinning feeding lid that quickly stops spinning"},
        {"label": "Spinning pen that quickly stops spinning", "template": "Spinning [something] that quickly stops spinning",
         "placeholders": ["pen"], "id": 5, "label_object_shuffled_clip_text": "spinning cup that quickly stops spinning"},
    ]
    (tmp_path / "validation.json").write_text(json.dumps(records))
    ps = import_released(tmp_path / "validation.json", "ssv2", "val")
    by = {(p.clip_id, p.task): p for p in ps.probes}
    assert by[("74225", "action_antonym")].foil_text == "Spinning cube that quickly starts spinning"
    assert by[("74225", "action_antonym")].text == "Spinning cube that quickly stops spinning"
    assert by[("74225", "object_replacement")].foil_text == "spinning feeding lid that quickly stops spinning"
    assert ("5", "action_antonym") not in by and ("5", "object_replacement") in by
    assert ps.manifest.source == "imported"
    assert ps.manifest.dropped["action_antonym"] == {"no label_action_antonym_clip_text": 1}
    assert ps.manifest.counts == {"action_antonym": 1, "video_reversal": 1, "object_replacement": 2, "clips": 2}


def test_ego4d_release_is_cleaned_like_the_original(tmp_path: Path) -> None:
    rec = {"video_uid": "v1", "video_dur": 100.0, "narration_source": "narration_pass_1", "narration_ind": 3,
           "narration_time": 10.0, "clip_start": 9.5, "clip_end": 10.5,
           "clip_text": "#C C picks up the knife from the chopping board with her right hand.",
           "tag_verb": "[1]", "tag_noun": "[2]", "clip_uid": "c1", "narration_relative_time": 1.0,
           "clip_relative_start": 0.352, "clip_relative_end": 1.029, "clip_fps": 30.0,
           "action_antonym_clip_text": "#C C drops down the knife from the chopping board with her right hand.",
           "object_shuffled_clip_text": "#C C picks up the banana from the chopping board with her right hand."}
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(rec) + "\n" + json.dumps(rec) + "\n")
    ps = import_released(path, "ego4d", "test")
    by = {p.task: p for p in ps.probes}
    assert by["action_antonym"].text == "c picks up the knife from the chopping board with her right hand"
    assert by["action_antonym"].foil_text == "c drops down the knife from the chopping board with her right hand"
    assert by["object_replacement"].foil_text == "c picks up the banana from the chopping board with her right hand"
    assert ps.clips[0].video == "c1.mp4" and ps.clips[0].start == 0.352
    assert len(ps.probes) == 3
