"""Mini downstream tasks from the mini benchmark's SSv2 clips, read back by the original-format readers."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from actionbench.datasets.downstream import read_ssv2_retrieval
from actionbench.datasets.mini import plan_ssv2
from actionbench.datasets.mini_downstream import ANTONYM, write_mini_downstream
from actionbench.datasets.nextqa import read_nextqa
from actionbench.datasets.records import AnnotationError


@pytest.fixture(scope="module")
def mini_ssv2(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    (root / "ssv2").mkdir()
    clips = plan_ssv2(3, "default")  # the annotations alone: no video is rendered
    for split in ("train", "validation"):
        (root / "ssv2" / f"{split}.json").write_text(json.dumps([c.record() for c in clips if c.split == split]))
    return root, {c.id: c for c in clips if c.split == "validation"}


def test_mini_downstream_files_read_back_in_the_original_formats(mini_ssv2, tmp_path):
    root, clips = mini_ssv2
    counts = write_mini_downstream(root, tmp_path / "ds")
    assert counts["val_videos"] == len(clips) and counts["val_questions"] == 2 * len(clips)
    label = read_ssv2_retrieval(tmp_path / "ds" / "ssv2_ret_label_val_small.json", "ssv2_label")
    template = read_ssv2_retrieval(tmp_path / "ds" / "ssv2_ret_template_val_small.json", "ssv2_template")
    assert len(label.videos) == len(template.videos) == len(clips)
    assert len(template.texts) == 22  # every mini template has validation clips
    assert all(len(v) > 1 for v in template.text_videos())  # several correct videos per text
    for video, t in zip(label.videos, label.video_text, strict=True):
        assert label.texts[t] == clips[video.video_id].label

    questions = read_nextqa(tmp_path / "ds" / "nextqa" / "val.csv")
    assert Counter(q.type for q in questions) == {"TC": len(clips), "DO": len(clips)}
    assert Counter(q.answer for q in questions).keys() == {0, 1, 2, 3, 4}  # answers are not always in one place
    for q in questions:
        clip = clips[q.video]
        assert len(set(q.choices)) == 5
        if q.type == "TC":  # needs the frame order: the antonym (the same scene played backwards) is a choice
            assert q.choices[q.answer] == clip.label
            antonym = ANTONYM[clip.template]
            assert any(c.startswith(antonym.split("[")[0].lower().strip()) for c in q.choices if c != clip.label)
        else:  # one frame suffices: the object is visible throughout
            assert q.choices[q.answer] in clip.label


def test_mini_downstream_is_deterministic_and_refuses_foreign_templates(mini_ssv2, tmp_path):
    root, _ = mini_ssv2
    write_mini_downstream(root, tmp_path / "a")
    write_mini_downstream(root, tmp_path / "b")
    for name in ("nextqa/val.csv", "nextqa/train.csv", "ssv2_ret_template_train.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    bad = tmp_path / "bad"
    (bad / "ssv2").mkdir(parents=True)
    (bad / "ssv2" / "train.json").write_text(json.dumps([{"id": "1", "label": "x", "template": "Waving [something]",
                                                         "placeholders": ["a flag"]}]))
    with pytest.raises(AnnotationError, match=r"train\.json: item 0: template 'Waving \[something\]' is not a mini"):
        write_mini_downstream(bad, tmp_path / "out")
