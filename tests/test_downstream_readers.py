"""Readers of the downstream tasks' original files (REFERENCE.md §5.1): retrieval sets, NExT-QA, id lists."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from actionbench.datasets.downstream import (
    kinetics_segment,
    read_moments_categories,
    read_moments_in_time,
    read_ssv2_retrieval,
    read_temporal,
)
from actionbench.datasets.nextqa import (
    TYPE_GROUPS,
    read_id_list,
    read_nextqa,
    read_predictions,
    read_video_map,
)
from actionbench.datasets.records import AnnotationError


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ retrieval


def test_ssv2_label_file_one_caption_per_video_with_repeats_merged(tmp_path):
    f = _write(tmp_path / "ssv2_ret_label_val_small.json", json.dumps([
        {"video": ["62211.webm"], "caption": "spinning soap that quickly stops spinning"},
        {"video": "1001.webm", "caption": "pushing [something] from left to right"},
        {"video": ["1002.webm"], "caption": "spinning soap that quickly stops spinning"},
    ]))
    s = read_ssv2_retrieval(f, "ssv2_label")
    assert s.texts == ["spinning soap that quickly stops spinning", "pushing something from left to right"]
    assert [v.video for v in s.videos] == ["62211.webm", "1001.webm", "1002.webm"]
    assert [v.video_id for v in s.videos] == ["62211", "1001", "1002"]
    assert s.video_text == [0, 1, 0] and s.merged_duplicates == 1
    assert s.text_videos() == [[0, 2], [1]]


def test_ssv2_template_file_many_videos_per_caption(tmp_path):
    f = _write(tmp_path / "t.json", json.dumps([
        {"video": ["1.webm", "2.webm", "3.webm"], "caption": "Dropping [something] onto [something]"},
        {"video": ["4.webm"], "caption": "Lifting [something] up"},
    ]))
    s = read_ssv2_retrieval(f, "ssv2_template")
    assert s.texts == ["Dropping something onto something", "Lifting something up"]
    assert s.text_videos() == [[0, 1, 2], [3]]


@pytest.mark.parametrize("content, message", [
    ("{", r"t\.json:1:\d+: malformed JSON"),
    ('{"video": "1.webm"}', r"t\.json: expected a JSON list"),
    ('[{"video": "1.webm"}]', r"t\.json: item 0: field 'caption': expected a string"),
    ('[{"video": [], "caption": "x"}]', r"t\.json: item 0: field 'video'"),
    ('[{"video": "../1.webm", "caption": "x"}]', r"item 0: field 'video': '\.\./1\.webm' is not a plain file name"),
    ('[{"video": "1.webm", "caption": "x"}, {"video": "1.webm", "caption": "y"}]',
     r"item 1: video '1' listed twice \(first at .*item 0\)"),
])
def test_ssv2_retrieval_errors_name_file_item_and_field(tmp_path, content, message):
    f = _write(tmp_path / "t.json", content)
    with pytest.raises(AnnotationError, match=message):
        read_ssv2_retrieval(f)


TEMPORAL_CSV = """,index,video_id,text,dataset
0,0,74225,Pulling [something] from left to right,SSv2
1,1,116154,Pulling [something] from right to left,SSv2
2,2,cartwheeling/RUNwB3-Qxqg_000007_000017,cartwheeling,Kinetics
3,3,3001,Pulling [something] from left to right,SSv2
4,4,jumping/a_b_c_000120_000130,jumping,Kinetics
"""


def test_temporal_csv_ssv2_and_kinetics_subsets(tmp_path):
    f = _write(tmp_path / "val-v1.0-2.4k.csv", TEMPORAL_CSV)
    ssv2 = read_temporal(f, "ssv2")
    assert ssv2.texts == ["Pulling something from left to right", "Pulling something from right to left"]
    assert [v.video for v in ssv2.videos] == ["74225.webm", "116154.webm", "3001.webm"]
    assert ssv2.text_videos() == [[0, 2], [1]] and ssv2.skipped == {"other subset": 2}
    kin = read_temporal(f, "kinetics")
    assert [(v.video, v.start, v.end) for v in kin.videos] == [("RUNwB3-Qxqg.mp4", 7.0, 17.0),
                                                               ("a_b_c.mp4", 120.0, 130.0)]
    assert kin.texts == ["cartwheeling", "jumping"]
    assert kinetics_segment("cartwheeling/RUNwB3-Qxqg_000007_000017") == ("RUNwB3-Qxqg", 7.0, 17.0)


@pytest.mark.parametrize("row, message", [
    ("5,5,abc,text,SSv2", r":2: field 'video_id': expected an SSv2 id"),
    ("5,5,cartwheeling/x_7_17,t,Kinetics", r":2: field 'video_id': expected <class>/<youtube id>"),
    ("5,5,1,t,UCF", r":2: field 'dataset': expected ssv2 or kinetics"),
    ("5,5,1,t", r":2: 4 fields, the header has 5"),
])
def test_temporal_errors_name_line_and_field(tmp_path, row, message):
    f = _write(tmp_path / "v.csv", ",index,video_id,text,dataset\n" + row + "\n")
    with pytest.raises(AnnotationError, match=message):
        read_temporal(f, "kinetics" if "Kinetics" in row else "ssv2")
    with pytest.raises(AnnotationError, match=r"v\.csv:1: missing column\(s\) dataset"):
        read_temporal(_write(tmp_path / "v.csv", ",index,video_id,text\n1,1,1,t\n"))


def test_moments_in_time_categories_in_index_order_and_unseen_categories(tmp_path):
    cats = _write(tmp_path / "moments_categories.txt", "applauding,1\nadult+female+singing,0\nzooming,2\n")
    assert read_moments_categories(cats) == ["adult female singing", "applauding", "zooming"]
    ann = _write(tmp_path / "validationSet_2k.csv",
                 "applauding/a1.mp4,applauding,3,4\nadult+female+singing/b.mp4,adult+female+singing,1,1\n"
                 "applauding/a2.mp4,applauding,3,4\n")
    s = read_moments_in_time(ann, cats)
    assert s.texts == ["adult female singing", "applauding", "zooming"]
    assert s.video_text == [1, 0, 1] and s.text_videos() == [[1], [0, 2], []]
    bad = _write(tmp_path / "bad.csv", "x/1.mp4,flying,1,1\n")
    with pytest.raises(AnnotationError, match=r"bad\.csv:1: label 'flying' is not in the category list"):
        read_moments_in_time(bad, cats)
    with pytest.raises(AnnotationError, match=r"c\.txt:2: field 'idx': expected an integer"):
        read_moments_categories(_write(tmp_path / "c.txt", "a,0\nb,one\n"))
    with pytest.raises(AnnotationError, match=r"c\.txt: indices must be 0\.\.1 without gaps"):
        read_moments_categories(_write(tmp_path / "c.txt", "a,0\nb,2\n"))


# -------------------------------------------------------------------------------------------- NExT-QA

HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4"


def test_genuine_nextqa_validation_file(shared_data):
    path = shared_data / "real" / "nextqa" / "val.csv"
    if not path.is_file():
        pytest.skip("genuine NExT-QA validation file absent")
    qs = read_nextqa(path)
    assert len(qs) == 4996  # the official validation split
    assert len({q.key for q in qs}) == 4996 and len({q.video for q in qs}) == 570
    types = Counter(q.type for q in qs)
    assert types == {"CW": 1924, "CH": 683, "TN": 895, "TC": 663, "TP": 54, "DC": 177, "DL": 295, "DO": 305}
    assert Counter(q.group for q in qs) == {"C": 2607, "T": 1612, "D": 777}
    first = qs[0]
    assert first.key == "4010069381_6" and first.answer == 0 and first.type == "CH"
    assert first.texts()[0] == "how do the two man play the instrument? roll the handle"
    assert set(TYPE_GROUPS) == set(types)


def test_nextqa_antonym_choices_are_read_without_eval(tmp_path):
    f = _write(tmp_path / "val.csv", HEADER + ",action_antonym_choices\n"
               "1,10,1,1,why did he fall,1,3,CW,a,b,c,d,e,\"['rise', 'stand']\"\n")
    (q,) = read_nextqa(f)
    assert q.antonym_choices == ("rise", "stand") and q.key == "1_3"
    evil = _write(tmp_path / "evil.csv", HEADER + ",action_antonym_choices\n"
                  "1,10,1,1,q,1,3,CW,a,b,c,d,e,\"__import__('os').getcwd()\"\n")
    with pytest.raises(AnnotationError, match=r"evil\.csv:2: field 'action_antonym_choices'"):
        read_nextqa(evil)


@pytest.mark.parametrize("row, message", [
    ("1,10,1,1,q,5,3,CW,a,b,c,d,e", r":2: field 'answer': expected 0-4, got 5"),
    ("1,10,1,1,q,x,3,CW,a,b,c,d,e", r":2: field 'answer': expected 0-4, got 'x'"),
    ("1,10,1,1,q,1,3,XX,a,b,c,d,e", r":2: field 'type': expected one of CW, CH"),
    ("1,10,1,1,q,1,,CW,a,b,c,d,e", r":2: field 'qid': empty"),
    ("1,10,1,1,q,1,3,CW,a,b,c,d", r":2: 12 fields, the header has 13"),
])
def test_nextqa_errors_name_line_and_field(tmp_path, row, message):
    with pytest.raises(AnnotationError, match=r"val\.csv" + message):
        read_nextqa(_write(tmp_path / "val.csv", HEADER + "\n" + row + "\n"))


def test_nextqa_duplicate_question_and_missing_column(tmp_path):
    row = "1,10,1,1,q,1,3,CW,a,b,c,d,e"
    with pytest.raises(AnnotationError, match=r"val\.csv:3: question 1_3 also on line 2"):
        read_nextqa(_write(tmp_path / "val.csv", f"{HEADER}\n{row}\n{row}\n"))
    with pytest.raises(AnnotationError, match=r"val\.csv:1: missing column\(s\) a4"):
        read_nextqa(_write(tmp_path / "val.csv", HEADER.rsplit(",", 1)[0] + "\n"))


def test_id_lists_as_keys_or_csv(tmp_path):
    assert read_id_list(_write(tmp_path / "a.txt", "# ATP-hard\n123_4\n\n555_0  # note\n123_4\n")) == ["123_4", "555_0"]
    assert read_id_list(_write(tmp_path / "b.csv", "video,qid,type\n123,4,CW\n555,0,TN\n")) == ["123_4", "555_0"]
    with pytest.raises(AnnotationError, match=r"c\.txt:2: expected <video>_<qid>, got 'oops'"):
        read_id_list(_write(tmp_path / "c.txt", "1_2\noops\n"))
    with pytest.raises(AnnotationError, match=r"d\.txt: no ids"):
        read_id_list(_write(tmp_path / "d.txt", "# nothing\n"))


def test_official_prediction_files(tmp_path):
    f = _write(tmp_path / "p.json", json.dumps({"1_3": {"prediction": 2, "answer": 1}, "1_4": {"prediction": "0"}}))
    assert read_predictions(f) == {"1_3": (2, 1), "1_4": (0, None)}
    with pytest.raises(AnnotationError, match=r"p\.json: 1_3: field 'prediction': expected a choice index 0-4, got 7"):
        read_predictions(_write(tmp_path / "p.json", json.dumps({"1_3": {"prediction": 7, "answer": 1}})))
    with pytest.raises(AnnotationError, match=r"p\.json: expected"):
        read_predictions(_write(tmp_path / "p.json", "[1, 2]"))


def test_nextqa_video_map(tmp_path):
    f = _write(tmp_path / "map_vid_vidorID.json", json.dumps({"4010069381": "1006/4010069381", "7": "0000/7"}))
    assert read_video_map(f) == {"4010069381": "1006/4010069381.mp4", "7": "0000/7.mp4"}
    with pytest.raises(AnnotationError, match=r"map_vid_vidorID\.json: 7: '\.\./x' is not a path inside"):
        read_video_map(_write(tmp_path / "map_vid_vidorID.json", json.dumps({"7": "../x"})))
