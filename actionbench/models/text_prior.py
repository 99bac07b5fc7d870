"""The text-prior control: a language model over the text alone, never the video.

It scores each text by its log-probability, so on Action Antonym and Object Replacement it picks whichever of the
true text and the foil reads more likely; Video Reversal shows it one text for both views, a tie by construction
(reported "temporally blind"). Far above 50% on AA or OR means a probe set leaks its answer through language
alone: the shortcut the original benchmark never measured.

Offline default: a word trigram model with interpolated Kneser-Ney smoothing (`nltk.lm`) trained on the texts of
the *train* split of the same dataset, given as `--model-arg train=<probe-set folder or annotations>`; a probe of
a clip the model was trained on is refused, so it never sees the evaluated split. Where the user has weights,
`--model-arg lm=<name or folder>` scores with any Hugging Face causal LM instead (`local_files_only` unless
`download=true`).

Like the chance line it is a probe-level scorer: the harness still decodes each clip (a missing video removes the
same probes from every row) but the model is handed texts only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from actionbench.ids import stable_hash
from actionbench.models.protocol import ModelError, ModelSpec, ProbeScorer
from actionbench.probes.text import tokenize

NGRAM_ORDER = 3
UNK_CUTOFF = 2  # words seen once in training become <UNK>, so unseen words get its probability


class TextPriorError(ModelError):
    """A train split that cannot be read or that overlaps the evaluated one."""


def words(text: str) -> list[str]:
    """The LM's tokens: the probe edits' own word tokens, lower case."""
    return [t.lower for t in tokenize(text)]


def load_train_texts(path: str | Path, *, dataset: str | None = None, alpha: float = 4.9) -> dict[str, str]:
    """clip_id -> text of a train split: a probe-set folder (its clips) or annotations (read as split train).

    A probe set must say split "train"; annotations are read through the dataset's reader with split "train"
    (SSv2: a folder with train.json or the json itself; Ego4D: EgoClip .jsonl/.csv or narration.json).
    """
    path = Path(path)
    if not path.exists():
        raise TextPriorError(f"{path}: train split not found")
    if path.is_dir() and (path / "manifest.json").is_file():
        from actionbench.probes.schema import ProbeSet, ProbeSetError

        try:
            ps = ProbeSet.load(path)
        except ProbeSetError as e:
            raise TextPriorError(str(e)) from None
        if ps.manifest.split != "train":
            raise TextPriorError(f"{path}: probe set of split {ps.manifest.split!r}; the text prior trains on "
                                 "the train split only")
        if dataset is not None and ps.manifest.dataset != dataset:
            raise TextPriorError(f"{path}: a {ps.manifest.dataset} probe set; expected {dataset}")
        return {c.clip_id: c.text for c in ps.clips}
    from actionbench.datasets.records import AnnotationError

    try:
        result = _read_train(path, dataset, alpha)
    except (AnnotationError, ValueError, OSError) as e:
        raise TextPriorError(f"{path}: {e}") from None
    if not result.clips:
        raise TextPriorError(f"{path}: no clip of the train split")
    return {c.clip_id: c.text for c in result.clips}


def _read_train(path: Path, dataset: str | None, alpha: float):
    if dataset == "ssv2" or (dataset is None and (path.is_dir() or path.suffix == ".json")
                             and not path.name.endswith("narration.json")):
        from actionbench.datasets.ssv2 import read_ssv2

        return read_ssv2(path, "train")
    from actionbench.datasets import ego4d

    if path.name.endswith("narration.json") or path.suffix == ".json":
        return ego4d.read_narrations(path, split="train", alpha=alpha)
    return ego4d.read_egoclip(path, split="train")


class NgramScorer:
    """log P(text) under an interpolated Kneser-Ney word n-gram model (nltk.lm), in nats."""

    def __init__(self, texts: Iterable[str], order: int = NGRAM_ORDER) -> None:
        from nltk.lm import KneserNeyInterpolated
        from nltk.lm.preprocessing import padded_everygram_pipeline
        from nltk.lm.vocabulary import Vocabulary

        sents = [words(t) for t in sorted(set(texts))]
        if not any(sents):
            raise TextPriorError("the train split has no text to learn from")
        self.order = order
        grams, _ = padded_everygram_pipeline(order, sents)
        flat = [w for s in sents for w in s] + ["<s>", "</s>"]
        self.lm = KneserNeyInterpolated(order, vocabulary=Vocabulary(flat, unk_cutoff=UNK_CUTOFF))
        self.lm.fit(grams)
        self.n_texts = len(sents)
        self._cache: dict[str, float] = {}

    def score(self, text: str) -> float:
        if text not in self._cache:
            from nltk.lm.preprocessing import pad_both_ends

            toks = list(pad_both_ends(words(text), n=self.order))
            total = 0.0
            for i in range(self.order - 1, len(toks)):
                p = self.lm.score(toks[i], toks[i - self.order + 1 : i])
                total += math.log(p) if p > 0 else -1e4  # nothing seen at all: very unlikely, not -inf
            self._cache[text] = total
        return self._cache[text]


class CausalLMScorer:
    """log P(text) under a Hugging Face causal LM (sum over tokens after the first, in nats)."""

    def __init__(self, name: str, *, download: bool = False, device: str = "cpu") -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=not download)
            self.model = AutoModelForCausalLM.from_pretrained(name, local_files_only=not download)
        except OSError as e:
            raise TextPriorError(f"lm={name}: cannot load a causal LM ({str(e).splitlines()[0]}); give a local "
                                 "folder, or download=true where the hub can be reached") from None
        self.model.eval().to(device)
        self._cache: dict[str, float] = {}

    @torch.no_grad()
    def score(self, text: str) -> float:
        if text not in self._cache:
            ids = self.tokenizer(text, return_tensors="pt")["input_ids"]
            bos = self.tokenizer.bos_token_id
            if bos is not None and (ids.shape[1] == 0 or int(ids[0, 0]) != bos):
                ids = torch.cat([torch.tensor([[bos]]), ids], dim=1)
            ids = ids.to(self.model.device)
            logits = self.model(ids).logits.float()
            logp = torch.log_softmax(logits[0, :-1], dim=-1).gather(1, ids[0, 1:, None])
            self._cache[text] = float(logp.sum())
        return self._cache[text]


class TextPriorModel(ProbeScorer):
    """Scores a probe's two texts by their probability alone; never looks at a frame."""

    order_invariant = True  # no frame ever reaches it: Video Reversal is a tie by construction
    version = "1"

    def __init__(self, scorer: Any, *, name: str, args: dict[str, Any], train_ids: frozenset[str] = frozenset(),
                 weights_hash: str | None = None) -> None:
        self.scorer = scorer
        self.name = name
        self.args = args
        self.train_ids = train_ids
        self.weights_hash = weights_hash

    def score_probes(self, probes: list) -> torch.Tensor:
        """`[P, 2]`: (log P(text), log P(foil)); Video Reversal has no foil text, so both are log P(text)."""
        overlap = next((p.clip_id for p in probes if p.clip_id in self.train_ids), None)
        if overlap is not None:
            raise TextPriorError(f"clip {overlap} is in the text prior's train split; train it on the train split "
                                 "and evaluate another")
        rows = []
        for p in probes:
            s = self.scorer.score(p.text)
            rows.append((s, self.scorer.score(p.foil_text) if p.foil_text is not None else s))
        return torch.tensor(rows, dtype=torch.float64).reshape(-1, 2).float()



def text_prior(train: str | None = None, lm: str | None = None, order: int = NGRAM_ORDER,
               dataset: str | None = None, download: bool = False) -> TextPriorModel:
    """A language model over the text alone (args: train=<train split>, or lm=<HF causal LM>; order, dataset)."""
    if lm is not None:
        return TextPriorModel(CausalLMScorer(str(lm), download=bool(download)), name=f"text-prior:{lm}",
                              args={"lm": str(lm)}, weights_hash=stable_hash("hf", str(lm))[:16])
    if train is None:
        raise TextPriorError("text-prior needs --model-arg train=<probe set or annotations of the train split> "
                             "(or lm=<causal LM> where you have weights)")
    texts = load_train_texts(train, dataset=dataset)
    scorer = NgramScorer(texts.values(), order=int(order))
    digest = stable_hash("ngram", int(order), sorted(texts.items()))[:16]
    return TextPriorModel(scorer, name="text-prior", args={"train": str(train), "order": int(order)},
                          train_ids=frozenset(texts), weights_hash=digest)


def probe_accuracy(ps: Any, train_texts: dict[str, str], order: int = NGRAM_ORDER) -> dict[str, dict[str, float]]:
    """The text prior's accuracy (%, ties half) on a probe set's AA and OR probes, trained on `train_texts`."""
    overlap = next((c.clip_id for c in ps.clips if c.clip_id in train_texts), None)
    if overlap is not None:
        raise TextPriorError(f"clip {overlap} is in both the train split and the probe set")
    scorer = NgramScorer(train_texts.values(), order=order)
    out: dict[str, dict[str, float]] = {}
    for task in ("action_antonym", "object_replacement"):
        credit = []
        for p in ps.probes:
            if p.task == task and p.foil_text is not None:
                a, b = scorer.score(p.text), scorer.score(p.foil_text)
                credit.append(1.0 if a > b else 0.5 if a == b else 0.0)
        if credit:
            out[task] = {"n": len(credit), "accuracy": 100.0 * sum(credit) / len(credit)}
    return out


SPECS = [
    ModelSpec(
        name="text-prior",
        factory=text_prior,
        description="control: a language model over the text alone, never the video: a word n-gram LM trained on "
                    "a train split (args: train, order), or a Hugging Face causal LM (args: lm, download)",
        weights="--model-arg train=<probe set or annotations of the train split>, or lm=<causal LM with weights>",
    ),
]
