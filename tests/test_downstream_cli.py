"""`actionbench score-nextqa`: an official NExT-QA prediction file scored by one command, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "actionbench", *args], capture_output=True, text=True, env=env)


def test_score_nextqa_prints_overall_per_type_and_atp_hard_and_refuses_bad_files(tmp_path):
    ann = tmp_path / "val.csv"
    ann.write_text("\n".join([HEADER, "7,1,1,1,why,1,0,CW,a,b,c,d,e", "7,1,1,1,what next,2,1,TN,a,b,c,d,e",
                              "8,1,1,1,where,3,0,DL,a,b,c,d,e", "8,1,1,1,how,0,1,CH,a,b,c,d,e"]) + "\n")
    preds = tmp_path / "pred.json"
    preds.write_text(json.dumps({"7_0": {"prediction": 1, "answer": 1}, "7_1": {"prediction": 0, "answer": 2},
                                 "8_0": {"prediction": 3, "answer": 3}, "8_1": {"prediction": 0, "answer": 0}}))
    hard = tmp_path / "atp-hard.txt"
    hard.write_text("7_1\n8_1\n")
    out_json = tmp_path / "scores.json"
    proc = run("score-nextqa", str(preds), "--annotations", str(ann), "--atp-hard", str(hard), "--json",
               str(out_json), "--bootstrap-size", "100")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split("│")[1].strip(): line for line in proc.stdout.splitlines() if line.count("│") >= 3}
    assert "75.0" in lines["all"] and "n=4" in lines["all"] and "50.0" in lines["all"]  # 3/4 all, 1/2 ATP-hard
    assert "100.0" in lines["C: causal (CW+CH)"] and "0.0" in lines["T: temporal (TN+TC+TP)"]
    assert "TN" in lines and "DL" in lines
    scores = json.loads(out_json.read_text())
    assert scores["all"]["overall"]["accuracy"] == 75.0 and scores["atp_hard"]["overall"]["n"] == 2

    preds.write_text(json.dumps({"7_0": {"prediction": 1, "answer": 1}}))
    proc = run("score-nextqa", str(preds), "--annotations", str(ann))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line
    assert "no prediction for question 7_1 (and 2 more)" in proc.stderr

    hard.write_text("7_1\n99_0\n")
    preds.write_text(json.dumps({k: {"prediction": 0} for k in ("7_0", "7_1", "8_0", "8_1")}))
    proc = run("score-nextqa", str(preds), "--annotations", str(ann), "--atp-hard", str(hard))
    assert proc.returncode == 2 and "subset id 99_0 is not a question" in proc.stderr


@pytest.mark.parametrize("content, message", [("{", "pred.json:1:2: malformed JSON"),
                                               ('{"7_0": {"answer": 1}}', "7_0: field 'prediction': missing")])
def test_score_nextqa_malformed_prediction_files_are_one_line(tmp_path, content, message):
    ann = tmp_path / "val.csv"
    ann.write_text(HEADER + "\n7,1,1,1,why,1,0,CW,a,b,c,d,e\n")
    preds = tmp_path / "pred.json"
    preds.write_text(content)
    proc = run("score-nextqa", str(preds), "--annotations", str(ann))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
