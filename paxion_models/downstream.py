"""Training the Paxion models for the paper's downstream tasks (Table 2; REFERENCE.md §5's configuration table).

Four heads, each on a frozen backbone, trained on a downstream set (`actionbench build-downstream`, or
`downstream_set.build` on the original file):
- `kp-perceiver-ft` / `kp-transformer-ft`: a Knowledge Patcher fine-tuned alone (from a trained patcher with
  `--patcher`, as the SSv2 configs; from scratch without, as the NExT-QA KP-Perceiver-FT config, which has no
  `pretrained` line);
- `side-tuning` / `patch-and-fuse`: Side-Tuning's α-mix or the Knowledge Fuser (`xattn`) on a trained patcher, the
  patcher trained jointly (all released P&F configs), the backbone frozen.

Retrieval sets (SSv2-label, SSv2-template) train with VTC (the fuser VTC for the fusers: the same InfoNCE on the
fused vectors), clips that share a caption counting as positives; question sets (NExT-QA) with the MC-QA loss
(label smoothing 0.1, none for KP-Transformer), with VAC's antonym choices as five more candidates when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from paxion_models.train import TrainConfig

RETRIEVAL = ("ssv2_label", "ssv2_template")
QUESTIONS = ("nextqa",)


@dataclass(frozen=True)
class DownstreamHead:
    variant: str  # the head variant train_head builds
    needs_patcher: bool  # a trained patcher must be given (fusers)


HEADS: dict[str, DownstreamHead] = {
    "kp-perceiver-ft": DownstreamHead("perceiver", False),
    "kp-transformer-ft": DownstreamHead("transformer", False),
    "side-tuning": DownstreamHead("side-tuning", True),
    "patch-and-fuse": DownstreamHead("xattn", True),
}


def downstream_config(head: str, dataset: str, *, vac: bool = False, **overrides) -> TrainConfig:
    """The paper's configuration for `head` on `dataset` (REFERENCE.md §5): AdamW 1e-5, weight decay 0.05;
    retrieval 1 epoch of batch 32; NExT-QA batch 16, 5 epochs for a patcher (1 with VAC, the KP-DVDM config),
    4 for the fusers; MC-QA label smoothing 0.1, none for KP-Transformer; NExT-QA's patcher without a temporal
    embedding. `overrides` are TrainConfig fields (steps, lr, seed, ...)."""
    if head not in HEADS:
        raise ValueError(f"unknown downstream head {head!r} (choose from {', '.join(HEADS)})")
    if dataset not in RETRIEVAL + QUESTIONS:
        raise ValueError(f"no training recipe for {dataset!r} (train on {', '.join(RETRIEVAL + QUESTIONS)})")
    spec = HEADS[head]
    if vac and dataset not in QUESTIONS:
        raise ValueError("VAC's antonym choices are a NExT-QA option (retrieval trains with VTC)")
    if dataset in RETRIEVAL:
        cfg = TrainConfig(variant=spec.variant, objectives="vtc", epochs=1, batch_size=32, positives="caption",
                          downstream=dataset)  # fmt: skip
    else:
        epochs = 4 if spec.needs_patcher else (1 if vac else 5)
        cfg = TrainConfig(variant=spec.variant, objectives="mcqa,vac" if vac else "mcqa", epochs=epochs, batch_size=16,
                          label_smoothing=0.0 if head == "kp-transformer-ft" else 0.1, temporal_embedding=False,
                          downstream=dataset)  # fmt: skip
    return replace(cfg, **overrides)


def train_downstream(
    head: str,
    train_set: str | Path,
    videos: str | Path,
    out: str | Path,
    cfg: TrainConfig,
    *,
    backbone=None,
    patcher: str | Path | None = None,
    cache_dir: str | Path | None = None,
    decoded=None,
    progress: bool = True,
):
    """Train `head` on a downstream-set folder (its videos under `videos`); returns train_head's TrainResult.
    The backbone is the patcher checkpoint's when `patcher` is given, else `backbone`."""
    from actionbench.datasets.downstream_set import DownstreamSet
    from paxion_models.data import downstream_training_set
    from paxion_models.heads import backbone_for
    from paxion_models.train import train_head

    spec = HEADS[head]
    if spec.needs_patcher and patcher is None:
        raise ValueError(f"{head} starts from a trained patcher: pass --patcher CHECKPOINT")
    ds = DownstreamSet.load(train_set)
    if cfg.downstream and ds.manifest.dataset != cfg.downstream:
        raise ValueError(f"{train_set}: a {ds.manifest.dataset} set, but the recipe is for {cfg.downstream}")
    if patcher is not None:
        from paxion_models.checkpoints import load_checkpoint

        _, pconf = load_checkpoint(patcher)
        if pconf.get("kind") != "paxion-head" or pconf.get("variant") not in ("perceiver", "transformer"):
            raise ValueError(f"{patcher}: not a patcher checkpoint (written by `actionbench train patcher`)")
        backbone = backbone if backbone is not None else backbone_for(pconf, patcher)
    if backbone is None:
        raise ValueError(f"{head} without --patcher needs a backbone (--backbone)")
    data = downstream_training_set(ds, videos)
    return train_head(backbone, [(train_set, videos)], out, cfg, patcher_checkpoint=patcher, cache_dir=cache_dir,
                      progress=progress, decoded=decoded, data=data)  # fmt: skip


def mini_downstream_config(head: str, dataset: str, seed: int = 0, **overrides) -> TrainConfig:
    """The mini recipe of a downstream head (`recipes.MINI_DOWNSTREAM` over the paper's configuration)."""
    from paxion_models.recipes import MINI_DOWNSTREAM

    return downstream_config(head, dataset, **{**MINI_DOWNSTREAM, "seed": seed, **overrides})


def query_credits(rows: list[dict], direction: str, k: int = 1) -> list[dict]:
    """Retrieval prediction rows -> per-query R@k credits in the form `metrics.paired_bootstrap` takes (a query is
    its own cluster)."""
    from actionbench.downstream_metrics import hit_credit

    return [{"probe_id": r["query"], "source_video": r["query"],
             "decision": hit_credit(r["above"], r["tied_wrong"], r["tied_right"], k)}
            for r in rows if r["direction"] == direction]  # fmt: skip



def score_downstream(model: str, model_args: dict, set_folder: str | Path, videos: str | Path, out: str | Path
                     ) -> tuple[dict, list[dict]]:  # fmt: skip
    """A model's result cell and its prediction rows on one downstream set, through the harness (a bundle in
    `out`)."""
    from actionbench.files import read_jsonl
    from actionbench.runner import evaluate

    results, _ = evaluate(model, [set_folder], [videos], model_args=model_args, out=out, cache=False)
    (cells,) = results["downstream"].values()
    (cell,) = cells.values()
    return cell, [row for _, row in read_jsonl(Path(out) / "predictions.jsonl")]
