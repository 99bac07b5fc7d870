"""`actionbench train ...`: the Paxion training commands (entry point `actionbench.commands`: `train`).

- `train backbone --mini`: the mini benchmark's dual encoder;
- `train patcher`: a Knowledge Patcher (Perceiver or Transformer) on a frozen backbone, VTC or VTC+DVDM;
- `train fuser`: a Knowledge Fuser (or Side-Tuning) on a trained patcher;
- `train downstream`: KP-Perceiver / KP-Transformer fine-tuning, Side-Tuning or Patch-and-Fuse on a downstream task's
  train file (SSv2-label / -template retrieval: VTC; NExT-QA: the MC-QA loss), per REFERENCE.md §5.

Training data is given as probe sets with their videos roots (`--probes DIR --videos DIR`, repeatable, paired),
or as a mini-benchmark folder (`--data DIR`, its train splits). Under `torchrun` the commands train with DDP.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(name="train", help="Train the Paxion reference models (mini backbone, Knowledge Patcher, Knowledge Fuser).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)  # fmt: skip
console = Console(markup=False, emoji=False, highlight=False)  # paths and names print as they are


def _sources(probes: list[Path] | None, videos: list[Path] | None, data: Path | None, out: Path) -> list[tuple[Path, Path]]:
    probes, videos = probes or [], videos or []
    if len(probes) != len(videos):
        raise typer.BadParameter(f"{len(probes)} --probes but {len(videos)} --videos: give one videos root per probe set")
    sources = list(zip(probes, videos, strict=True))
    if data is not None:
        from paxion_models.data import mini_training_sources

        sources += mini_training_sources(data, out / "probes")
    if not sources:
        raise typer.BadParameter("no training data: give --probes DIR --videos DIR, or --data MINI_DIR")
    return sources


def _parse_args(pairs: list[str] | None) -> dict:
    from actionbench.models import parse_model_args

    return parse_model_args(pairs or [])


def _summary(title: str, rows: dict[str, object]) -> None:
    table = Table(title=title, show_header=False)
    for k, v in rows.items():
        table.add_row(k, str(v))
    console.print(table)


@app.command("backbone")
def backbone_cmd(
    mini: bool = typer.Option(False, "--mini", help="train the mini backbone (the only trainable backbone)"),
    data: Path = typer.Option(None, help="a mini-benchmark folder (uses its train splits)"),
    probes: list[Path] = typer.Option(None, help="a training probe set (repeatable)"),
    videos: list[Path] = typer.Option(None, help="the videos root of each --probes (repeatable, same order)"),
    out: Path = typer.Option(..., help="output folder (backbone.safetensors)"),
    steps: int = typer.Option(None, help="training steps (default: the mini recipe's)"),
    seed: int = typer.Option(0),
) -> None:
    """Train the mini backbone: frame-mean video encoder + order-aware text encoder."""
    from paxion_models.train_mini import MiniTrainConfig, train_mini_backbone

    if not mini:
        raise typer.BadParameter("only the mini backbone is trained here: pass --mini (the paper backbones are frozen)")
    cfg = MiniTrainConfig(seed=seed, **({"steps": steps} if steps else {}))
    result = train_mini_backbone(_sources(probes, videos, data, out), out, cfg)
    last = result.history[-1]
    _summary("mini backbone", {"checkpoint": result.checkpoint, "steps": len(result.history),
                               "steps/s": f"{len(result.history) / result.seconds:.2f}", "final loss": f"{last['loss']:.3f}",
                               "antonym cosine": f"{last['antonym_cos']:.3f}", "skipped clips": result.skipped or "none"})  # fmt: skip


def _train(kind: str, **kw) -> None:
    from paxion_models.backbones import build_backbone
    from paxion_models.train import TrainConfig, train_head

    cfg = TrainConfig(**kw.pop("cfg"))
    sources = _sources(kw["probes"], kw["videos"], kw["data"], kw["out"])
    if kind == "fuser":
        from paxion_models.checkpoints import load_checkpoint
        from paxion_models.heads import backbone_for

        _, pconf = load_checkpoint(kw["patcher"])
        backbone = backbone_for(pconf, kw["patcher"])
    else:
        args = _parse_args(kw["backbone_arg"])
        if kw["backbone_checkpoint"]:
            args["checkpoint"] = str(kw["backbone_checkpoint"])
        if kw["backbone"] == "mini" and "checkpoint" not in args:
            raise typer.BadParameter("the mini backbone needs --backbone-checkpoint (from `actionbench train backbone --mini`)")
        backbone = build_backbone(kw["backbone"], **args)
    result = train_head(backbone, sources, kw["out"], cfg, patcher_checkpoint=kw.get("patcher"),
                        cache_dir=kw["out"] / "cache" if cfg.cache_features else None)  # fmt: skip
    last = result.history[-1] if result.history else {}
    rows = {"checkpoint": result.checkpoint, "trainable parameters": f"{result.trainable_params:,}", "steps": result.steps,
            "steps/s": f"{result.steps_per_second:.2f}"}  # fmt: skip
    rows.update({k: f"{v:.3f}" for k, v in last.items() if k not in ("step", "lr")})
    rows["skipped clips"] = result.skipped or "none"
    _summary(f"{cfg.variant} [{cfg.objectives}]", rows)


_COMMON = dict(
    data=typer.Option(None, help="a mini-benchmark folder (uses its train splits)"),
    probes=typer.Option(None, help="a training probe set (repeatable)"),
    videos=typer.Option(None, help="the videos root of each --probes (repeatable, same order)"),
)


@app.command("patcher")
def patcher_cmd(
    backbone: str = typer.Option(..., help="mini | openclip | internvideo | clipvip | singularity"),
    out: Path = typer.Option(..., help="output folder (checkpoint.safetensors, resume.pt)"),
    backbone_checkpoint: Path = typer.Option(None, help="the backbone's weights (the mini backbone's file)"),
    backbone_arg: list[str] = typer.Option(None, help="backbone argument key=value (repeatable), e.g. arch=ViT-B-32"),
    data: Path = _COMMON["data"],
    probes: list[Path] = _COMMON["probes"],
    videos: list[Path] = _COMMON["videos"],
    variant: str = typer.Option("perceiver", help="perceiver | transformer"),
    objectives: str = typer.Option("vtc", help="vtc, or vtc,vac,atm (VTC+DVDM)"),
    steps: int = typer.Option(None, help="training steps (default: --epochs)"),
    epochs: float = typer.Option(1.0),
    batch_size: int = typer.Option(32, help="global batch size (split over torchrun ranks)"),
    lr: float = typer.Option(1e-5),
    weight_decay: float = typer.Option(0.05),
    warmup_steps: int = typer.Option(0),
    seed: int = typer.Option(42),
    atm_gating: str = typer.Option("none", help="none | heuristic | a state-change flags JSON file"),
    cache_features: bool = typer.Option(False, help="encode every clip once with the frozen backbone"),
    reverse_by: str = typer.Option("auto", help="auto | flip | pass: how ATM gets the reversed video's tokens"),
    num_workers: int = typer.Option(0, help="decoding workers"),
    save_every: int = typer.Option(0, help="steps between resumable checkpoints (0: at the end)"),
    no_temporal_embedding: bool = typer.Option(False, help="Perceiver without its temporal embedding (ablation)"),
) -> None:
    """Train a Knowledge Patcher on a frozen backbone (resumes from OUT/resume.pt when present)."""
    cfg = dict(variant=variant, objectives=objectives, steps=steps, epochs=epochs, batch_size=batch_size, lr=lr,
               weight_decay=weight_decay, warmup_steps=warmup_steps, seed=seed, atm_gating=atm_gating,
               cache_features=cache_features, reverse_by=reverse_by, num_workers=num_workers, save_every=save_every,
               temporal_embedding=not no_temporal_embedding)  # fmt: skip
    _train("patcher", cfg=cfg, backbone=backbone, backbone_checkpoint=backbone_checkpoint, backbone_arg=backbone_arg,
           data=data, probes=probes, videos=videos, out=out)  # fmt: skip


@app.command("fuser")
def fuser_cmd(
    patcher: Path = typer.Option(..., help="a trained patcher's checkpoint.safetensors"),
    out: Path = typer.Option(..., help="output folder"),
    data: Path = _COMMON["data"],
    probes: list[Path] = _COMMON["probes"],
    videos: list[Path] = _COMMON["videos"],
    kind: str = typer.Option("xattn", help="xattn (Knowledge Fuser) | side-tuning"),
    freeze_patcher: bool = typer.Option(False, help="train the fuser only (the paper trains both jointly)"),
    objectives: str = typer.Option("vtc", help="vtc (the paper's fuser loss), or vtc,vac,atm"),
    steps: int = typer.Option(None),
    epochs: float = typer.Option(1.0),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-5),
    seed: int = typer.Option(42),
    cache_features: bool = typer.Option(False),
    num_workers: int = typer.Option(0),
    save_every: int = typer.Option(0),
) -> None:
    """Train a Knowledge Fuser (or Side-Tuning) on a trained patcher; the backbone comes from its checkpoint."""
    cfg = dict(variant=kind, objectives=objectives, steps=steps, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
               freeze_patcher=freeze_patcher, cache_features=cache_features, num_workers=num_workers, save_every=save_every)  # fmt: skip
    _train("fuser", cfg=cfg, patcher=patcher, data=data, probes=probes, videos=videos, out=out)


@app.command("downstream")
def downstream_cmd(
    head: str = typer.Option(..., help="kp-perceiver-ft | kp-transformer-ft | side-tuning | patch-and-fuse"),
    out: Path = typer.Option(..., help="output folder (checkpoint.safetensors, resume.pt)"),
    videos: Path = typer.Option(..., help="the videos root of the train set"),
    train_set: Path = typer.Option(None, "--set", help="a downstream-set folder (`actionbench build-downstream`)"),
    dataset: str = typer.Option(None, help="with --annotations: ssv2_label | ssv2_template | nextqa"),
    annotations: Path = typer.Option(None, help="the task's original train file (ssv2_ret_*_train.json, NExT-QA train.csv)"),
    video_map: Path = typer.Option(None, help="NExT-QA: map_vid_vidorID.json"),
    patcher: Path = typer.Option(None, help="the trained patcher it starts from (required for the fusers)"),
    backbone: str = typer.Option(None, help="without --patcher: mini | openclip | internvideo | clipvip | singularity"),
    backbone_checkpoint: Path = typer.Option(None, help="without --patcher: the backbone's weights"),
    backbone_arg: list[str] = typer.Option(None, help="without --patcher: backbone argument key=value (repeatable)"),
    vac: bool = typer.Option(False, help="NExT-QA: VAC's antonym choices as five more candidates"),
    steps: int = typer.Option(None, help="training steps (default: the paper's epochs)"),
    epochs: float = typer.Option(None, help="default: the paper's for this head and task"),
    batch_size: int = typer.Option(None, help="default: the paper's (32 retrieval, 16 NExT-QA)"),
    lr: float = typer.Option(1e-5),
    warmup_steps: int = typer.Option(0),
    seed: int = typer.Option(42),
    cache_features: bool = typer.Option(False, help="encode every clip once with the frozen backbone"),
    num_workers: int = typer.Option(0, help="decoding workers"),
    save_every: int = typer.Option(0, help="steps between resumable checkpoints (0: at the end)"),
) -> None:
    """Train a model for a downstream task (Table 2) on its train set, from a trained patcher (resumes from
    OUT/resume.pt when present). Score it with the registry entry of its head (--checkpoint)."""
    from paxion_models.downstream import HEADS, QUESTIONS, RETRIEVAL, downstream_config, train_downstream

    if head not in HEADS:
        raise typer.BadParameter(f"--head {head!r}: choose from {', '.join(HEADS)}")
    if (train_set is None) == (annotations is None):
        raise typer.BadParameter("give the train data as --set DIR, or as --dataset NAME --annotations FILE")
    if annotations is not None:
        from actionbench.datasets.downstream_set import build

        if dataset not in RETRIEVAL + QUESTIONS:
            raise typer.BadParameter(f"no training recipe for {dataset!r}: --annotations needs --dataset "
                                     f"{', '.join(RETRIEVAL + QUESTIONS)}")
        train_set = build(dataset, annotations, video_map=video_map, split="train").save(out / "train-set")
    from actionbench.datasets.downstream_set import DownstreamSet

    dataset = DownstreamSet.load(train_set).manifest.dataset
    overrides = {k: v for k, v in dict(steps=steps, epochs=epochs, batch_size=batch_size).items() if v is not None}
    cfg = downstream_config(head, dataset, vac=vac, lr=lr, warmup_steps=warmup_steps, seed=seed,
                            cache_features=cache_features, num_workers=num_workers, save_every=save_every, **overrides)  # fmt: skip
    model = None
    if patcher is None:
        if backbone is None:
            raise typer.BadParameter(f"{head} without --patcher needs --backbone")
        from paxion_models.backbones import build_backbone

        args = _parse_args(backbone_arg)
        if backbone_checkpoint:
            args["checkpoint"] = str(backbone_checkpoint)
        model = build_backbone(backbone, **args)
    result = train_downstream(head, train_set, videos, out, cfg, backbone=model, patcher=patcher,
                              cache_dir=out / "cache" if cache_features else None)  # fmt: skip
    last = result.history[-1] if result.history else {}
    from paxion_models.checkpoints import load_checkpoint
    from paxion_models.registry import ENTRIES, patcher_loss

    config = load_checkpoint(result.checkpoint)[1]
    entry = next(e for e, (v, _, objs) in ENTRIES.items()
                 if v == config["variant"] and (objs is None or sorted(objs) == sorted(patcher_loss(config))))
    rows = {"checkpoint": result.checkpoint, "score it with": f"--model {entry}-{config['backbone']['name']} --checkpoint CHECKPOINT",
            "trainable parameters": f"{result.trainable_params:,}", "steps": result.steps,
            "steps/s": f"{result.steps_per_second:.2f}"}  # fmt: skip
    rows.update({k: f"{v:.3f}" for k, v in last.items() if k not in ("step", "lr")})
    rows["skipped items"] = result.skipped or "none"
    _summary(f"{head} on {dataset} [{cfg.objectives}]", rows)
