"""Training the mini backbone (`actionbench train backbone --mini`): a few CPU minutes on the mini train split.

Objective: CLIP's symmetric InfoNCE between the frame-mean video vector and the caption vector, plus a term that
pushes each caption away from its action-antonym caption (`relu(cos(t, t_antonym) - margin)`), so the
order-aware text encoder separates "from left to right" from "from right to left". The video side is
order-invariant and cannot tell those apart, so in InfoNCE a clip's antonym caption is masked out as a negative
(it would only pull the two captions together); clips that share a caption are all positives.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from actionbench.ids import stable_hash
from actionbench.video import FrameSpec
from paxion_models.backbones.mini import MiniBackbone, MiniConfig, WordTokenizer
from paxion_models.data import BatchOrder, ClipFrames, TrainItem, load_training_set
from paxion_models.train import _progress, learning_rate


@dataclass
class MiniTrainConfig:
    steps: int = 300
    batch_size: int = 64
    lr: float = 2e-3
    min_lr: float = 0.0
    warmup_steps: int = 20
    weight_decay: float = 0.01
    antonym_margin: float = 0.5
    antonym_weight: float = 1.0
    seed: int = 0
    image_size: int = 64
    grid: int = 4
    width: int = 64
    embed_dim: int = 64
    num_frames: int = 8
    num_workers: int = 0  # decoding processes


@dataclass
class MiniTrainResult:
    checkpoint: Path
    history: list[dict[str, float]]
    seconds: float
    skipped: dict[str, int]
    frames: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict, repr=False)  # (clip id, video) -> uint8

    def decoded(self, items: list[TrainItem]) -> torch.Tensor:
        """The training clips' frames, preprocessed as the mini backbone's (so a patcher run need not decode)."""
        return torch.stack([self.frames[(i.clip_id, str(i.video))] for i in items]).float() / 127.5 - 1


def mini_loss(video: torch.Tensor, text: torch.Tensor, antonym: torch.Tensor, same: torch.Tensor, foil: torch.Tensor,
              scale: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """(InfoNCE, antonym separation, mean antonym cosine); `same`/`foil` `[B, B]`: caption j equals / is the antonym of i's."""
    v, t, a = (F.normalize(x, dim=-1) for x in (video, text, antonym))
    logits = (v @ t.T * scale).masked_fill(foil, -1e4)  # [B, B]
    target = same.float() / same.float().sum(1, keepdim=True)
    nce = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target.T / target.T.sum(1, keepdim=True)))
    cos = (t * a).sum(-1)
    return nce, F.relu(cos - margin).mean(), cos.mean().detach()


def train_mini_backbone(
    sources: list[tuple[str | Path, str | Path]], out: str | Path, cfg: MiniTrainConfig | None = None, progress: bool = True
) -> MiniTrainResult:
    """Train the mini backbone on the clips (with antonym captions) of `sources`; writes `out/backbone.safetensors`."""
    cfg = cfg or MiniTrainConfig()
    out = Path(out)
    torch.manual_seed(int(stable_hash("paxion-mini-backbone", cfg.seed, length=8), 16))
    data = load_training_set(sources)
    items = data.items
    vocab = WordTokenizer.from_texts(data.texts()).vocab  # captions and antonym captions
    model = MiniBackbone(MiniConfig(image_size=cfg.image_size, grid=cfg.grid, width=cfg.width, embed_dim=cfg.embed_dim,
                                    num_frames=cfg.num_frames, vocab=vocab))  # fmt: skip
    spec = FrameSpec(num_frames=cfg.num_frames)
    bar = _progress(progress)
    history: list[dict[str, float]] = []
    with bar:
        task = bar.add_task("decoding training clips", total=len(items), info="")
        # uint8 in memory (4x smaller than float32); the mini preprocessing is x -> 2x - 1
        frames = torch.empty(len(items), cfg.num_frames, 3, cfg.image_size, cfg.image_size, dtype=torch.uint8)
        clips = ClipFrames(items, spec, model.preprocess)
        loader = torch.utils.data.DataLoader(clips, batch_size=None, num_workers=cfg.num_workers)  # decoding in parallel
        for i, clip in loader:
            frames[i] = (clip * 127.5 + 127.5).round().clamp(0, 255).byte()
            bar.advance(task)
        caption = [i.text for i in items]
        antonym = [i.antonym for i in items]
        text_id = {t: k for k, t in enumerate(sorted(set(caption) | set(antonym)))}
        cap = torch.tensor([text_id[t] for t in caption])
        ant = torch.tensor([text_id[t] for t in antonym])

        order = BatchOrder(len(items), cfg.batch_size, cfg.seed)
        decay = [p for p in model.parameters() if p.ndim >= 2]
        rest = [p for p in model.parameters() if p.ndim < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)
        task = bar.add_task("training the mini backbone", total=cfg.steps, info="")
        t0 = time.perf_counter()
        for step, index in zip(range(cfg.steps), order.batches(0, cfg.steps), strict=True):
            lr = learning_rate(step, cfg.steps, cfg)  # type: ignore[arg-type]
            for group in optimizer.param_groups:
                group["lr"] = lr
            i = torch.from_numpy(index)
            per_frame, _ = model.encode_frames(frames[i].float() / 127.5 - 1)  # [B, T, D]
            video = per_frame.mean(1)
            texts = [caption[k] for k in index] + [antonym[k] for k in index]
            tv = model.encode_text(texts).global_vec
            text, anto = tv.chunk(2)
            same = cap[i][:, None] == cap[i][None, :]
            foil = ant[i][:, None] == cap[i][None, :]
            scale = model.log_scale.clamp(max=4.6052).exp()
            nce, sep, cos = mini_loss(video, text, anto, same, foil, scale, cfg.antonym_margin)
            loss = nce + cfg.antonym_weight * sep
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            record = {"step": step, "loss": loss.item(), "nce": nce.item(), "antonym_cos": cos.item(), "lr": lr}
            history.append(record)
            bar.update(task, advance=1, info=f"loss {record['loss']:.3f}  antonym cos {record['antonym_cos']:.2f}")
        seconds = time.perf_counter() - t0
    path = model.save(out / "backbone.safetensors", extra={"train": asdict(cfg), "skipped": dict(data.skipped),
                                                           "trained_on": [[str(p), str(v)] for p, v in sources]})  # fmt: skip
    keys = [(i.clip_id, str(i.video)) for i in items]
    return MiniTrainResult(path, history, seconds, dict(data.skipped), dict(zip(keys, frames, strict=True)))
