"""Downstream sets: a task's clips, texts and items saved like a probe set, checked by their id on load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from actionbench.datasets.downstream import read_ssv2_retrieval, read_temporal
from actionbench.datasets.downstream_set import DownstreamSet, from_nextqa, from_retrieval
from actionbench.datasets.nextqa import read_nextqa
from actionbench.datasets.records import AnnotationError

HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4"


def test_retrieval_set_round_trip_with_windows_and_a_stable_id(tmp_path):
    csv_file = tmp_path / "val-v1.0-2.4k.csv"
    csv_file.write_text(",index,video_id,text,dataset\n0,0,cartwheeling/RUNwB3-Qxqg_000007_000017,cartwheeling,"
                        "Kinetics\n1,1,jumping/xyz_000001_000011,jumping,Kinetics\n2,2,5,x,SSv2\n")
    ds = from_retrieval("temporal_kinetics", read_temporal(csv_file, "kinetics"))
    assert ds.manifest.task == "video_action_retrieval" and ds.manifest.kind == "retrieval"
    assert ds.manifest.counts == {"clips": 2, "texts": 2, "items": 2} and ds.manifest.skipped == {"other subset": 1}
    ds.save(tmp_path / "set")
    back = DownstreamSet.load(tmp_path / "set")
    assert back.set_id == ds.set_id and back.texts == ["cartwheeling", "jumping"]
    assert (back.clips[0].video, back.clips[0].start, back.clips[0].end) == ("RUNwB3-Qxqg.mp4", 7.0, 17.0)
    assert back.items[1] == {"item_id": "jumping/xyz_000001_000011", "clip_id": "jumping/xyz_000001_000011",
                             "text_index": 1}
    again = from_retrieval("temporal_kinetics", read_temporal(csv_file, "kinetics"))
    assert again.set_id == ds.set_id  # same file, same id


def test_an_edited_set_is_refused(tmp_path):
    f = tmp_path / "ssv2_ret_label_val_small.json"
    f.write_text(json.dumps([{"video": "1.webm", "caption": "a"}, {"video": "2.webm", "caption": "b"}]))
    from_retrieval("ssv2_label", read_ssv2_retrieval(f)).save(tmp_path / "set")
    items = tmp_path / "set" / "items.jsonl"
    items.write_text(items.read_text().replace('"text_index":1', '"text_index":0'))
    with pytest.raises(AnnotationError, match=r"set: its files do not match manifest set_id"):
        DownstreamSet.load(tmp_path / "set")
    (tmp_path / "set" / "manifest.json").unlink()
    with pytest.raises(AnnotationError, match=r"manifest\.json: missing \(not a finished downstream-set folder"):
        DownstreamSet.load(tmp_path / "set")


def test_nextqa_set_keeps_questions_texts_and_video_paths(tmp_path):
    ann = tmp_path / "val.csv"
    ann.write_text(HEADER + "\n7,1,1,1,why,1,0,CW,a,b,c,d,e\n7,1,1,1,what next,2,1,TN,a,b,c,d,e\n")
    ds = from_nextqa(read_nextqa(ann), {"7": "0000/7.mp4"}, sources=["val.csv"])
    assert [c.video for c in ds.clips] == ["0000/7.mp4"] and ds.manifest.counts["items"] == 2
    assert ds.items[1]["texts"][2] == "what next? c" and ds.items[1]["answer"] == 2 and ds.items[1]["type"] == "TN"
    with pytest.raises(AnnotationError, match="video 7 has no path in the video map"):
        from_nextqa(read_nextqa(ann), {}, sources=["val.csv"])


def test_build_downstream_command(tmp_path):
    ann = tmp_path / "val.csv"
    ann.write_text(HEADER + "\n7,1,1,1,why,1,0,CW,a,b,c,d,e\n8,1,1,1,what next,2,1,TN,a,b,c,d,e\n")
    vmap = tmp_path / "map_vid_vidorID.json"
    vmap.write_text(json.dumps({"7": "0000/7", "8": "0001/8"}))
    hard = tmp_path / "atp.txt"
    hard.write_text("8_1\n")
    env = {**os.environ, "COLUMNS": "200"}
    base = [sys.executable, "-m", "actionbench", "build-downstream"]
    proc = subprocess.run(base + ["--dataset", "nextqa", "--annotations", str(ann), "--video-map", str(vmap),
                                  "--subset", str(hard), "--out", str(tmp_path / "hard")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "nextqa_atp_hard (multiple_choice_qa), clips 1, texts 0, items 1" in proc.stdout
    assert DownstreamSet.load(tmp_path / "hard").items[0]["item_id"] == "8_1"
    proc = subprocess.run(base + ["--dataset", "moments_in_time", "--annotations", str(ann), "--out",
                                  str(tmp_path / "m")], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "moments_in_time needs --categories" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_scoring_whole_sets_gives_cells_and_recomputable_rows(tmp_path):
    import numpy as np

    from actionbench.downstream_metrics import recall_from_rows, score_qa_set, score_retrieval_set

    f = tmp_path / "t.json"
    f.write_text(json.dumps([{"video": ["1.webm", "2.webm"], "caption": "Opening [something]"},
                             {"video": ["3.webm"], "caption": "Closing [something]"}]))
    ds = from_retrieval("ssv2_template", read_ssv2_retrieval(f, "ssv2_template"))
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])  # clip 2 prefers the wrong text
    cell, rows = score_retrieval_set(ds, logits, bootstrap_size=100)
    assert cell["r1_v2t"] == pytest.approx(200 / 3) and cell["r1_t2v"] == 100.0 and cell["method"] == "default"
    assert {r["query"] for r in rows if r["direction"] == "t2v"} == {"Opening something", "Closing something"}
    assert recall_from_rows(rows, bootstrap_size=100)["r1_v2t"] == cell["r1_v2t"]
    with pytest.raises(Exception, match=r"model scores: shape \(2, 2\) differs from the model's \(3, 2\)"):
        score_retrieval_set(ds, logits[:2])

    ann = tmp_path / "val.csv"
    ann.write_text(HEADER + "\n7,1,1,1,why,1,0,CW,a,b,c,d,e\n7,1,1,1,what next,2,1,TN,a,b,c,d,e\n")
    qa = from_nextqa(read_nextqa(ann), {"7": "0000/7.mp4"}, sources=["val.csv"])
    cell, rows = score_qa_set(qa, {"7_0": [0, 5, 0, 0, 0], "7_1": [1, 1, 1, 1, 1]}, bootstrap_size=100)
    assert cell["accuracy"] == pytest.approx(60.0) and cell["accuracy_causal"] == 100.0
    assert cell["accuracy_temporal"] == pytest.approx(20.0)  # five tied choices: 1/5 credit
    assert rows[1]["credit"] == pytest.approx(0.2) and rows[0]["prediction"] == 1
    with pytest.raises(Exception, match="is not a retrieval set"):
        score_retrieval_set(qa, logits)
