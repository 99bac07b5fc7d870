"""Training a Knowledge Patcher, a Knowledge Fuser or Side-Tuning on a frozen backbone, top to bottom.

config -> distributed setup -> data -> model -> optimizer -> resume -> loop -> checkpoint.

- AdamW; weight decay only on weight matrices (never on τ, LayerNorms, latents or the temporal embedding);
  learning rate a function of the step (linear warm-up, cosine to `min_lr`), so resuming needs no scheduler state.
- Seeded: data order from `seeded_rng(seed, epoch)`; torch's RNG (dropout) seeded from the seed and the rank.
- Resumable: `resume.pt` (optimizer, RNG states, step, loss history; read with `weights_only=True`) beside
  `checkpoint.safetensors` (trainable weights + config); a killed and resumed run follows the same trajectory.
- bf16 autocast on CUDA; DDP under `torchrun` (the global batch is split across ranks, and the loss gathers
  with gradient, so W ranks train like one process on the same global batch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from actionbench.datasets.downstream_set import DownstreamSet
from actionbench.ids import stable_hash
from actionbench.probes.schema import ProbeSet
from actionbench.runner import runtime
from actionbench.video import FrameSpec
from paxion_models.backbones import Backbone
from paxion_models.checkpoints import load_checkpoint
from paxion_models.data import (
    BatchOrder,
    TrainingDataError,
    TrainingSet,
    TrainItem,
    apply_flags,
    load_state_change_flags,
    load_training_set,
)
from paxion_models.features import FeatureSource, autocast
from paxion_models.heads import PATCHERS, backbone_record, build_head, patcher_config, save_head
from paxion_models.losses import Objectives, mcqa_loss, paxion_loss, world
from paxion_models.patcher import count_parameters


@dataclass
class TrainConfig:
    """Defaults are the paper's (REFERENCE.md §5); the mini demo passes its own."""

    variant: str = "perceiver"  # perceiver | transformer (patchers), xattn | side-tuning (fusers)
    objectives: str = "vtc"  # vtc[,vac][,atm], or mcqa[,vac] (multiple-choice questions)
    atm_weight: float = 0.4
    label_smoothing: float = 0.1
    batch_size: int = 32  # global, over all ranks
    epochs: float = 1.0
    steps: int | None = None  # overrides epochs
    lr: float = 1e-5
    min_lr: float = 0.0
    warmup_steps: int = 0
    weight_decay: float = 0.05
    temperature: float = 0.07
    seed: int = 42
    num_frames: int = 8
    temporal_embedding: bool = True
    atm_gating: str = "none"  # none | heuristic | path of a flags file
    state_change_threshold: float = 0.95  # heuristic: keep a clip when its start/end frames' cosine is below this
    freeze_patcher: bool = False  # fusers: train the fuser only (the released configs train both jointly)
    cache_features: bool = False
    reverse_by: str = "auto"  # auto | flip | pass
    amp: bool = True
    num_workers: int = 0
    save_every: int = 0  # steps between resumable checkpoints; 0 = only at the end
    patcher_overrides: dict[str, Any] = field(default_factory=dict)
    positives: str = "diagonal"  # VTC: diagonal (the original) | caption (clips sharing a caption are positives)
    downstream: str | None = None  # the downstream dataset trained on (ssv2_label, ssv2_template, nextqa), if any


@dataclass
class TrainResult:
    checkpoint: Path
    history: list[dict[str, float]]
    steps: int
    seconds: float
    trainable_params: int
    skipped: dict[str, int]

    steps_run: int = 0  # in this call (a resumed run starts past its first steps)

    @property
    def steps_per_second(self) -> float:
        return self.steps_run / self.seconds if self.seconds and self.steps_run else float("nan")


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device): the harness's runtime, which joins torch.distributed under torchrun."""
    rt = runtime.start_runtime("auto", "off")  # autocast is the training loop's own choice (cfg.amp)
    return rt.rank, rt.world, rt.device


def learning_rate(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay weight matrices only; τ, LayerNorms, biases, latents and the temporal embedding are not decayed."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exempt = p.ndim < 2 or name.endswith(("latents", "temporal"))
        (no_decay if exempt else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def state_change_heuristic(tokens: torch.Tensor, threshold: float) -> torch.Tensor:
    """`[B, T, P, D]` -> `[B]`: the clip visibly changes (the mean cosine between its first-half and second-half
    frames is below `threshold`); the original's BLIP filter without its text-alignment half."""
    frames = torch.nn.functional.normalize(tokens.float().mean(2), dim=-1)  # [B, T, D]
    half = frames.shape[1] // 2
    sim = torch.einsum("bid,bjd->bij", frames[:, :half], frames[:, half:]).mean((1, 2))
    return sim < threshold


def head_config(cfg: TrainConfig, backbone: Backbone, out: Path, patcher_checkpoint: str | Path | None) -> tuple[dict, dict | None]:
    """The head's config, and the patcher weights it starts from: a fuser's patcher, or (fine-tuning) a patcher's
    own weights and temperature when `patcher_checkpoint` is given for a patcher variant."""
    base = {"variant": cfg.variant, "temperature": cfg.temperature, "num_frames": cfg.num_frames,
            "backbone": backbone_record(backbone, out)}  # fmt: skip
    if cfg.downstream:
        base["downstream"] = cfg.downstream
    if cfg.variant in PATCHERS and patcher_checkpoint is None:
        overrides = {"temporal_embedding": cfg.temporal_embedding} if cfg.variant == "perceiver" else {}
        overrides.update(cfg.patcher_overrides)
        return {**base, "patcher_variant": cfg.variant, "patcher": patcher_config(cfg.variant, backbone, cfg.num_frames, **overrides)}, None
    if patcher_checkpoint is None:
        raise ValueError(f"a {cfg.variant} fuser needs a trained patcher (--patcher CHECKPOINT)")
    weights, pconf = load_checkpoint(patcher_checkpoint)
    if pconf.get("variant") not in PATCHERS:
        raise ValueError(f"{patcher_checkpoint}: not a patcher checkpoint (variant={pconf.get('variant')!r})")
    init = {"path": str(Path(patcher_checkpoint).resolve()), "weights_hash": pconf["weights_hash"],
            "objectives": pconf.get("objectives")}  # fmt: skip
    if cfg.variant in PATCHERS:  # fine-tuning a trained patcher: its architecture, weights and temperature
        if pconf["variant"] != cfg.variant:
            raise ValueError(f"{patcher_checkpoint}: a {pconf['variant']} patcher cannot initialise a {cfg.variant} one")
        base["temperature"] = pconf.get("temperature", cfg.temperature)
        return {**base, "patcher_variant": cfg.variant, "patcher": pconf["patcher"], "patcher_init": init}, dict(weights)
    fuser = {"dim": backbone.embed_dim, "heads": 8, "dim_head": 64, "ff_mult": 2} if cfg.variant == "xattn" else None
    patcher_weights = {k.removeprefix("net."): v for k, v in weights.items() if k.startswith("net.")}
    return {**base, "patcher_variant": pconf["variant"], "patcher": pconf["patcher"], "fuser": fuser, "patcher_init": init}, patcher_weights


def train_head(
    backbone: Backbone,
    sources: list[tuple[str | Path, str | Path]],
    out: str | Path,
    cfg: TrainConfig,
    *,
    patcher_checkpoint: str | Path | None = None,
    cache_dir: str | Path | None = None,
    stop_after: int | None = None,
    progress: bool = True,
    decoded: Callable[[list[TrainItem]], torch.Tensor] | None = None,
    data: TrainingSet | None = None,
) -> TrainResult:
    """Train a patcher (or a fuser on a trained patcher) on the clips of `sources` (probe set, videos root).

    `decoded`: the items' preprocessed frames when a caller already holds them (the mini recipe), else None.
    `data`: the training items when the caller has read them (a downstream set: `downstream_training_set`);
    `sources` then names the (set folder, videos root) they came from, for the checkpoint's record."""
    out = Path(out)
    objectives = Objectives.parse(cfg.objectives, atm_weight=cfg.atm_weight, label_smoothing=cfg.label_smoothing)
    rank, size, device = setup_distributed()
    torch.manual_seed(int(stable_hash("paxion-train", cfg.seed, rank, length=8), 16))

    # -- data
    if cfg.positives not in ("diagonal", "caption"):
        raise ValueError(f"positives must be diagonal or caption, not {cfg.positives!r}")
    if data is None:
        data = load_training_set(sources)
    if objectives.mcqa and any(i.choices is None for i in data.items):
        raise TrainingDataError("the mcqa objective needs multiple-choice questions (a NExT-QA-format set)")
    if not objectives.mcqa and any(i.choices is not None for i in data.items):
        raise TrainingDataError(f"multiple-choice questions train with --objectives mcqa, not {cfg.objectives}")
    if objectives.mcqa and objectives.vac and any(i.antonym_choices is None for i in data.items):
        raise TrainingDataError("mcqa,vac needs the questions' antonym choices (an action_antonym_choices column)")
    if cfg.atm_gating not in ("none", "heuristic"):
        data = apply_flags(data, load_state_change_flags(cfg.atm_gating))
    order = BatchOrder(len(data.items), cfg.batch_size, cfg.seed, rank, size)
    total = cfg.steps if cfg.steps is not None else max(1, int(cfg.epochs * order.steps_per_epoch))
    spec = FrameSpec(num_frames=cfg.num_frames)

    # -- model: the frozen backbone's text vectors once, then the head
    backbone.to(device).freeze()
    texts = data.texts()
    with torch.no_grad():
        text_vecs = torch.cat([backbone.encode_text(texts[i : i + 256]).global_vec.float() for i in range(0, len(texts), 256)])
    row = {t: i for i, t in enumerate(texts)}
    caption_row = torch.tensor([row[i.text] for i in data.items], device=device)
    antonym_row = torch.tensor([row[i.antonym] if i.antonym else 0 for i in data.items], device=device)
    has_antonym = torch.tensor([i.antonym is not None for i in data.items], device=device)
    flagged = torch.tensor([i.state_change for i in data.items], device=device)
    choice_row = answer = None
    if objectives.mcqa:  # each question's candidate rows: its choices, then (VAC) its padded antonym choices
        choice_row = torch.tensor([[row[t] for t in (*i.choices, *((i.antonym_choices or ()) if objectives.vac else ()))]
                                   for i in data.items], device=device)  # fmt: skip
        answer = torch.tensor([i.answer for i in data.items], device=device)

    config, patcher_weights = head_config(cfg, backbone, out, patcher_checkpoint)
    head = build_head(config, backbone).to(device)
    if patcher_weights is not None and cfg.variant in PATCHERS:
        head.load_state_dict(patcher_weights, strict=True)  # fine-tuning: the whole patcher head, τ included
    elif patcher_weights is not None:
        head.net.patcher.load_state_dict(patcher_weights, strict=True)
        head.net.patcher.requires_grad_(not cfg.freeze_patcher)
    n_params = count_parameters(head)
    model = nn.parallel.DistributedDataParallel(head) if size > 1 else head

    optimizer = torch.optim.AdamW(param_groups(head, cfg.weight_decay), lr=cfg.lr)

    # -- resume
    history: list[dict[str, float]] = []
    start = 0
    resume_path = out / "resume.pt"
    if resume_path.is_file():
        state = torch.load(resume_path, weights_only=True, map_location="cpu")
        if state["config"] != asdict(cfg):
            raise ValueError(f"{resume_path}: written by a run with a different config; use a new --out")
        head.load_state_dict(load_checkpoint(out / "checkpoint.safetensors")[0])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"][rank])
        if device.type == "cuda" and state.get("cuda_rng"):
            torch.cuda.set_rng_state(state["cuda_rng"][rank])
        start, history = int(state["step"]), list(state["history"])

    def save(step: int) -> Path:
        rngs = _gather_objects(torch.get_rng_state())
        cuda = _gather_objects(torch.cuda.get_rng_state()) if device.type == "cuda" else None
        if rank != 0:
            return out / "checkpoint.safetensors"
        meta = {**config, "objectives": list(objectives.names), "objectives_label": objectives.label,
                "train": asdict(cfg), "steps": step, "trained_on": _trained_on(sources), "skipped": dict(data.skipped)}  # fmt: skip
        path = save_head(out / "checkpoint.safetensors", head, meta)
        torch.save({"step": step, "optimizer": optimizer.state_dict(), "rng": rngs, "cuda_rng": cuda,
                    "history": history, "config": asdict(cfg)}, out / "resume.pt")  # fmt: skip
        return path

    # -- features (frozen backbone: decoded per batch, or once when cached)
    bar = _progress(progress and rank == 0)
    with bar:
        features = FeatureSource(
            backbone, data.items, spec, device, need_reversed=objectives.atm, need_global=head.uses_global,
            reverse_by=cfg.reverse_by, cache=cfg.cache_features, cache_dir=cache_dir, amp=cfg.amp,
            num_workers=cfg.num_workers, decoded=decoded, progress=bar if rank == 0 and progress else None,
        )  # fmt: skip
        task = bar.add_task(f"training {cfg.variant} [{objectives.label}]", total=total, completed=start, info="")
        stop = total if stop_after is None else min(total, stop_after)
        t0 = time.perf_counter()
        head.train()
        for step, batch in zip(range(start, stop), features.batches(order, start, stop), strict=True):
            lr = learning_rate(step, total, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            index = torch.from_numpy(batch.index).to(device)
            views = [batch.video] if batch.reversed is None else [batch.video, batch.reversed]
            with autocast(device, cfg.amp):
                # one call for both views: DDP allows each parameter to be used once per backward
                joined = type(batch.video)(torch.cat([v.global_vec for v in views]), torch.cat([v.patch_tokens for v in views]))
                video = model(joined).float()
            video, video_rev = (video, None) if batch.reversed is None else video.chunk(2)
            atm_mask = flagged[index]
            if objectives.atm and cfg.atm_gating == "heuristic":
                atm_mask = atm_mask & state_change_heuristic(batch.video.patch_tokens, cfg.state_change_threshold)
            if objectives.mcqa:
                result = mcqa_loss(video, text_vecs[choice_row[index]], answer[index], head.temperature(),
                                   objectives.label_smoothing)  # fmt: skip
            else:
                result = paxion_loss(
                    video, text_vecs[caption_row[index]], head.temperature(), objectives,
                    antonym=text_vecs[antonym_row[index]], antonym_mask=has_antonym[index],
                    video_reversed=video_rev, atm_mask=atm_mask,
                    caption_ids=caption_row[index] if cfg.positives == "caption" else None,
                )  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            result.total.backward()
            optimizer.step()
            record = {"step": step, "lr": lr, "tau": head.temperature.tau, **{k: float(v) for k, v in result.parts.items()},
                      **result.metrics}  # fmt: skip
            history.append(record)
            bar.update(task, advance=1, info=_info(record))
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < stop:
                save(step + 1)
        seconds = time.perf_counter() - t0
        path = save(stop)
    return TrainResult(path, history, stop, seconds, n_params, dict(data.skipped), steps_run=max(0, stop - start))


def _info(record: dict[str, float]) -> str:
    keys = ("loss", "v2t_acc", "aa_acc", "vr_acc", "qa_acc")
    return "  ".join(f"{k} {record[k]:.3f}" for k in keys if k in record and record[k] == record[k])


def _trained_on(sources: list[tuple[str | Path, str | Path]]) -> list[dict[str, str]]:
    out = []
    for probes, videos in sources:
        if (Path(probes) / "items.jsonl").is_file():  # a downstream set
            out.append({"set_id": DownstreamSet.load(probes).set_id, "set": str(probes), "videos": str(videos)})
            continue
        try:
            pid = ProbeSet.load(probes).probeset_id
        except Exception:  # already validated by load_training_set; a record, not a check
            pid = None
        out.append({"probeset_id": pid, "probes": str(probes), "videos": str(videos)})
    return out


def _gather_objects(x: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's tensor (RNG states), for rank 0 to save."""
    if world()[1] == 1:
        return [x]
    out: list[Any] = [None] * world()[1]
    dist.all_gather_object(out, x)
    return out


def _progress(enabled: bool):
    return runtime.progress_bar(enabled, info=True)
