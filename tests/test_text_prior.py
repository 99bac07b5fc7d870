"""The text-prior control: a language model over the text alone, trained on a train split (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _evalkit import make_suite

from actionbench.leaderboard import load_leaderboard, render
from actionbench.leaderboard.submission import load_entry, submission_from_results
from actionbench.leaderboard.validate import ProbeSetIndex, validate_entry
from actionbench.models.protocol import ModelError
from actionbench.models.registry import create_model
from actionbench.models.text_prior import (
    NgramScorer,
    TextPriorError,
    load_train_texts,
    probe_accuracy,
    text_prior,
)
from actionbench.probes.schema import Clip, Probe, ProbeSet
from actionbench.runner import evaluate

TRAIN_TEXTS = [f"Pushing {c} {o} from left to right" for c in ("red", "blue", "green") for o in ("cup", "ball")]
TRAIN_TEXTS += [f"Pushing {c} {o} from right to left" for c in ("red", "blue") for o in ("box", "cup")]


def train_set(root: Path, texts: list[str] = TRAIN_TEXTS, split: str = "train") -> Path:
    clips = [Clip(f"train-{i:03d}", "ssv2", split, f"t{i}.mp4", None, None, f"t{i}", t, t) for i, t in enumerate(texts)]
    probes = [Probe(f"p{i:03d}", "video_reversal", c.clip_id, c.text, None, None) for i, c in enumerate(clips)]
    ps = ProbeSet.create(clips, probes, lexicon_version="test", dataset="ssv2", split=split, parameters={},
                         dropped={})
    return ps.save(root / f"train-{split}")


def test_the_ngram_model_prefers_what_its_train_split_says() -> None:
    lm = NgramScorer(["c picks up the cup", "c picks up the knife", "c puts down the cup"] * 3)
    assert lm.score("c picks up the cup") > lm.score("c picks down the cup")
    assert lm.score("c picks up the zorblax") > -1e4  # an unseen word is unlikely, not impossible


def test_train_texts_come_from_the_train_split_only(tmp_path: Path) -> None:
    texts = load_train_texts(train_set(tmp_path), dataset="ssv2")
    assert sorted(texts.values()) == sorted(TRAIN_TEXTS)
    with pytest.raises(TextPriorError, match="split 'val'; the text prior trains on the train split only"):
        load_train_texts(train_set(tmp_path, split="val"), dataset="ssv2")
    with pytest.raises(TextPriorError, match="a ssv2 probe set; expected ego4d"):
        load_train_texts(train_set(tmp_path), dataset="ego4d")
    with pytest.raises(TextPriorError, match="not found"):
        load_train_texts(tmp_path / "absent")


def test_train_texts_from_annotations_read_the_train_split(real_ego4d: Path) -> None:
    texts = load_train_texts(real_ego4d / "egoclip_subset.jsonl", dataset="ego4d")
    assert 100 < len(texts) < 689  # the videos that hash to train (80%), not the others


def test_the_model_needs_a_train_split_or_an_lm() -> None:
    with pytest.raises(ModelError, match="text-prior needs --model-arg train="):
        create_model("text-prior", {})


def test_an_evaluated_clip_in_the_train_split_is_refused(tmp_path: Path) -> None:
    model = text_prior(train=str(train_set(tmp_path)))
    probe = Probe("x", "action_antonym", "train-000", TRAIN_TEXTS[0], TRAIN_TEXTS[-1], None)
    with pytest.raises(TextPriorError, match="clip train-000 is in the text prior's train split"):
        model.score_probes([probe])


def test_it_runs_as_a_control_never_sees_video_and_its_bundle_validates(tmp_path: Path) -> None:
    probes, videos = make_suite(tmp_path, n_clips=6)
    train = train_set(tmp_path)
    results, frame = evaluate("text-prior", [probes], [videos], model_args={"train": str(train)}, cache=False,
                              out=tmp_path / "bundle")
    vr = results["results"]["ssv2"]["video_reversal"]
    assert vr["temporally_blind"] is True and vr["tie_rate"] == 1.0  # one text for both views
    assert results["model"]["weights_hash"]  # the train split's texts are its weights
    # AA: the train split says "left to right" after every colour it saw; the foil's direction is rarer
    assert set(frame[frame.task == "action_antonym"].relation) <= {"inverse", "outcome"}
    entry = load_entry(tmp_path / "bundle")
    validate_entry(entry, ProbeSetIndex.from_paths([probes]))
    sub = submission_from_results(results)
    assert sub.method == "text-prior control" and sub.backbone == "Text prior (no video)"
    # the leaderboard shows AA per relation when asked, from the bundle's recomputed `relations`
    board = load_leaderboard([tmp_path / "bundle"], check=True, index=ProbeSetIndex.from_paths([probes]),
                             relations=True)
    labels = [c.label for c in board.relation_columns]
    assert labels == ["AA inverse SSv2", "AA outcome SSv2"]
    md = render(board, "md")
    assert "Action Antonym accuracy (%) per relation" in md and "AA outcome SSv2" in render(board, "csv").replace(
        "aa_outcome_ssv2", "AA outcome SSv2")


def test_probe_accuracy_counts_ties_half(tmp_path: Path) -> None:
    probes, _ = make_suite(tmp_path, n_clips=4)
    ps = ProbeSet.load(probes)
    acc = probe_accuracy(ps, {f"t{i}": t for i, t in enumerate(TRAIN_TEXTS)})
    assert set(acc) == {"action_antonym", "object_replacement"}
    assert all(row["n"] == 4 and 0 <= row["accuracy"] <= 100 for row in acc.values())


@pytest.mark.slow
def test_a_hugging_face_causal_lm_scores_texts_where_weights_are_local(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "c", "picks", "puts", "up", "down", "the", "cup"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>")
    folder = tmp_path / "tiny-lm"
    fast.save_pretrained(folder)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=16, n_embd=8, n_layer=1, n_head=2,
                               bos_token_id=1, eos_token_id=1)).save_pretrained(folder)
    model = create_model("text-prior", {"lm": str(folder)})
    scores = model.score_probes([Probe("a", "action_antonym", "k", "c picks up the cup", "c puts down the cup", None)])
    assert scores.shape == (1, 2) and bool(scores.isfinite().all()) and scores[0, 0] != scores[0, 1]
    with pytest.raises(ModelError, match="cannot load a causal LM"):
        create_model("text-prior", {"lm": str(tmp_path / "no-such-lm")})
