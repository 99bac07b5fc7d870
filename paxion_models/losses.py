"""Training objectives: VTC, VAC and ATM (DVDM = VAC + ATM), with a learnable, clamped temperature.

Notation: `video` `[B, Q, D]` (head outputs), `text` `[B, D]` (frozen backbone text vectors),
`s(v, t) = max_q cos(v_q, t)`; logits are `s / τ`; every cross-entropy uses label smoothing 0.1.

- VTC: symmetric InfoNCE over the global batch: `½[CE(v2t) + CE(t2v)]`.
- VAC: the batch's antonym texts are appended as extra negatives on the v2t side only (not a separate term).
- ATM: per clip, a 2-way softmax over `[s(v, t), s(v_reversed, t)]`, target the original; weight 0.4;
  optionally only over state-change-salient clips (`atm_mask`).
- MC-QA (NExT-QA): per question, a softmax over its five `question? answer` texts, target the answer; with VAC
  the antonym choices, padded to five with copies of the wrong answers, are appended (ten candidates).

VTC on downstream retrieval data may pass each clip's caption id (`caption_ids`): clips of the batch that share a
caption are then all positives (uniform soft targets), not each other's negatives (SSv2-template has a few dozen
captions, so a batch of 32 holds many repeats).

Distributed training gathers the other ranks' video outputs WITH gradient (the original's `concat_all_gather`
had none, so the t2v half of VTC trained only τ). With it, DDP on W ranks computes the same loss and the same
gradient as one process on the whole global batch (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from paxion_models.patcher import max_cosine

OBJECTIVES = ("vtc", "vac", "atm", "mcqa")


class Temperature(nn.Module):
    """τ stored as log τ (so it stays positive) and clamped to [min, max]; `forward()` gives the logit scale 1/τ."""

    def __init__(self, init: float = 0.07, min: float = 0.01, max: float = 1.0):
        super().__init__()
        self.log_tau = nn.Parameter(torch.tensor(math.log(init)))
        self.bounds = (math.log(min), math.log(max))

    @property
    def tau(self) -> float:
        return float(self.log_tau.detach().clamp(*self.bounds).exp())

    def forward(self) -> torch.Tensor:
        return self.log_tau.clamp(*self.bounds).neg().exp()


@dataclass(frozen=True)
class Objectives:
    """Which objectives, and how they are weighted (the paper's DVDM config: VTC 1, VAC in VTC, ATM 0.4)."""

    names: tuple[str, ...] = ("vtc",)
    atm_weight: float = 0.4
    label_smoothing: float = 0.1

    @classmethod
    def parse(cls, text: str, **kw) -> Objectives:
        names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
        unknown = [n for n in names if n not in OBJECTIVES]
        if "mcqa" in names:
            if unknown or set(names) - {"mcqa", "vac"}:
                raise ValueError(f"objectives {text!r}: mcqa takes only vac beside it (unknown: {unknown})")
        elif unknown or "vtc" not in names:
            raise ValueError(f"objectives {text!r}: expected vtc plus any of vac, atm, or mcqa[,vac] (unknown: {unknown})")
        return cls(names, **kw)

    @property
    def mcqa(self) -> bool:
        return "mcqa" in self.names

    @property
    def vac(self) -> bool:
        return "vac" in self.names

    @property
    def atm(self) -> bool:
        return "atm" in self.names

    @property
    def label(self) -> str:
        return "VTC+DVDM" if self.vac and self.atm else "+".join(n.upper() for n in self.names)


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather forward; backward sums every rank's gradient for this rank's slice (all_reduce, then slice)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        rank, size = world()
        out = [torch.empty_like(x) for _ in range(size)]
        dist.all_gather(out, x.contiguous())
        ctx.rows = (rank * x.shape[0], (rank + 1) * x.shape[0])
        return torch.cat(out, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rows[0] : ctx.rows[1]]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All ranks' `x` concatenated on dim 0; gradients flow back to the rank that produced each slice."""
    if world()[1] == 1:
        return x
    return _GatherWithGrad.apply(x)


@torch.no_grad()
def gather(x: torch.Tensor) -> torch.Tensor:
    """All ranks' `x` (no gradient: for frozen inputs such as text vectors and masks)."""
    if world()[1] == 1:
        return x
    out = [torch.empty_like(x) for _ in range(world()[1])]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out, dim=0)


def global_sum(x: torch.Tensor) -> torch.Tensor:
    if world()[1] == 1:
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x


@dataclass
class LossOutput:
    total: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)  # detached, for logging
    metrics: dict[str, float] = field(default_factory=dict)  # in-batch accuracies


def paxion_loss(
    video: torch.Tensor,
    text: torch.Tensor,
    logit_scale: torch.Tensor,
    objectives: Objectives,
    antonym: torch.Tensor | None = None,
    antonym_mask: torch.Tensor | None = None,
    video_reversed: torch.Tensor | None = None,
    atm_mask: torch.Tensor | None = None,
    caption_ids: torch.Tensor | None = None,
) -> LossOutput:
    """The patcher/fuser loss on this rank's slice of the global batch (see the module docstring).

    `antonym_mask` `[B]` marks clips that have an antonym text; `atm_mask` `[B]` the clips ATM applies to;
    `caption_ids` `[B]` (optional) makes clips with the same caption each other's positives.
    """
    rank, _ = world()
    b = video.shape[0]
    smooth = objectives.label_smoothing
    targets = torch.arange(b, device=video.device) + rank * b
    soft = None
    if caption_ids is not None:  # [B, B*W]: uniform over the clips of the global batch that share the caption
        same = (caption_ids[:, None] == gather(caption_ids)[None, :]).float()
        soft = same / same.sum(1, keepdim=True)
    all_video = gather_with_grad(video)  # [B*W, Q, D]
    texts = gather(text)  # [B*W, D]
    columns = texts
    if objectives.vac:
        if antonym is None:
            raise ValueError("VAC needs the antonym texts")
        mask = torch.ones(b, dtype=torch.bool, device=video.device) if antonym_mask is None else antonym_mask
        columns = torch.cat([texts, gather(antonym)[gather(mask)]])  # [B*W + A, D]
    v2t = max_cosine(video, columns) * logit_scale  # [B, B*W(+A)]
    t2v = max_cosine(all_video, text).T * logit_scale  # [B, B*W]
    v2t_target: torch.Tensor = targets
    t2v_target: torch.Tensor = targets
    if soft is not None:
        t2v_target = soft
        v2t_target = F.pad(soft, (0, v2t.shape[1] - soft.shape[1]))  # antonym columns are never positives
    vtc = 0.5 * (F.cross_entropy(v2t, v2t_target, label_smoothing=smooth)
                 + F.cross_entropy(t2v, t2v_target, label_smoothing=smooth))
    total, parts = vtc, {"vtc": vtc.detach()}
    metrics = {"v2t_acc": float((v2t.argmax(1) == targets).float().mean())}
    if objectives.vac:
        s_true = v2t.gather(1, targets[:, None])[:, 0]
        s_foil = max_cosine(video, antonym).diagonal() * logit_scale
        metrics["aa_acc"] = float(((s_true > s_foil).float()[mask]).mean()) if mask.any() else float("nan")
    if objectives.atm:
        if video_reversed is None:
            raise ValueError("ATM needs the reversed videos' outputs")
        s_fwd = max_cosine(video, text).diagonal()  # [B]
        s_rev = max_cosine(video_reversed, text).diagonal()
        logits = torch.stack([s_fwd, s_rev], 1) * logit_scale  # [B, 2]
        per_clip = F.cross_entropy(logits, torch.zeros(b, dtype=torch.long, device=video.device), label_smoothing=smooth, reduction="none")
        keep = torch.ones(b, dtype=torch.bool, device=video.device) if atm_mask is None else atm_mask.bool()
        # Normalise by the global count so that W ranks (whose gradients DDP averages) match one process.
        count = global_sum(keep.sum().float()).clamp(min=1)
        atm = (per_clip * keep).sum() * world()[1] / count
        total = total + objectives.atm_weight * atm
        parts["atm"] = atm.detach()
        metrics["vr_acc"] = float(((s_fwd > s_rev).float()[keep]).mean()) if keep.any() else float("nan")
    parts["loss"] = total.detach()
    return LossOutput(total, parts, metrics)



def pad_antonym_choices(choices: list[str], answer: int, antonyms: list[str], n: int = 5) -> list[str]:
    """VAC's extra candidates for one question (the original's NExT-QA VAC): its antonym choices, cut or padded
    to `n` with copies of the wrong answers, in order (cycling). Appended after the `n` choices: 2n candidates,
    the target unchanged."""
    wrong = [c for i, c in enumerate(choices) if i != answer]
    if not wrong:
        raise ValueError("a question needs at least one wrong answer to pad its antonym choices")
    out = list(antonyms[:n])
    k = 0
    while len(out) < n:
        out.append(wrong[k % len(wrong)])
        k += 1
    return out


def mcqa_loss(video: torch.Tensor, candidates: torch.Tensor, answer: torch.Tensor, logit_scale: torch.Tensor,
              label_smoothing: float = 0.1) -> LossOutput:
    """Multiple-choice QA: `video` `[B, Q, D]`, `candidates` `[B, C, D]` (each question's own texts: 5, or 10 with
    VAC's padded antonym choices), `answer` `[B]`; CE over `s(v, t) / τ` (max over Q of the cosine)."""
    v = F.normalize(video.float(), dim=-1)
    t = F.normalize(candidates.float(), dim=-1)
    logits = torch.einsum("bqd,bcd->bcq", v, t).amax(-1) * logit_scale  # [B, C]
    loss = F.cross_entropy(logits, answer, label_smoothing=label_smoothing)
    acc = float((logits[:, :5].argmax(1) == answer).float().mean())
    return LossOutput(loss, {"mcqa": loss.detach(), "loss": loss.detach()}, {"qa_acc": acc})
