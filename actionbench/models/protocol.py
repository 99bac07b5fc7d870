"""The model protocol: what a video-text model gives the harness, and nothing more.

Three public abstract bases, one per way of scoring (subclass one, or write a plain class with the same
members: `check_model` reads either once, when the model is loaded, and names anything missing in one line):
- `DualEncoder` (alias `VideoTextModel`): `encode_videos`, `encode_texts`, optionally `similarity` (cosine);
- `CrossEncoder`: `score(frames, texts)` for (view, text) pairs; the runner hands each view only its texts;
- `ProbeScorer`: `score_probes(probes)` -> (s_true, s_foil) per probe (a generative model in choice mode, or a
  line that needs no video at all).

Optional hooks are declared on `Model` with a default of None ("not provided"); a model provides one by
defining the method: `encode_videos_and_reversed(frames)` (a dual encoder that makes the reversed view more
cheaply than a second pass) and `score_probes(probes)` on a cross-encoder (scores from probe ids alone, the
`chance` line: the harness still decodes every clip, so missing videos count alike, but calls no encoder).

The harness owns decoding, batching, de-duplication, caching and sharding. Frames arrive as float32
`[B, T, 3, H, W]`, already squash-resized to `preprocess.size` and normalised with `preprocess.mean` /
`preprocess.std`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Preprocess:
    """A model's own input preprocessing (separate from the benchmark's frame sampling)."""

    size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelError(RuntimeError):
    """A model that cannot be created or that returned something unusable (NaN, wrong shape)."""


class Model(abc.ABC):  # noqa: B024  (the three bases below declare the abstract members)
    """What the harness reads from every model. Subclasses set the attributes.

    Attributes:
        name: registry name, as shown in tables.
        preprocess: the model's input size and normalisation.
        order_invariant: the score cannot depend on frame order (the harness checks this on a few clips
            before it skips reversed passes, and reports Video Reversal as "temporally blind").
        logit_scale: optional multiplier of `similarity` (used only by the `paper` tie policy).
        args: the arguments the model was created with (part of its fingerprint).
        weights_hash: a digest of the weights it loaded, or None for random init / none.
        version: changes when the model's code changes (part of the embedding cache key).

    Optional hooks (None: not provided; define the method to provide it):
        encode_videos_and_reversed(frames) -> (forward, reversed): both views of a batch in one pass.
        score_probes(probes) -> Tensor[P, 2]: (s_true, s_foil) per probe, without any encoder call.
    """

    name: str = "model"
    preprocess: Preprocess = Preprocess()
    order_invariant: bool = False
    logit_scale: float | None = None
    args: dict[str, Any] = {}
    weights_hash: str | None = None
    version: str | None = None
    device: torch.device = torch.device("cpu")

    encode_videos_and_reversed: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None
    score_probes: Callable[[list[Any]], torch.Tensor] | None = None

    def to(self, device: str | torch.device) -> Any:
        """Move the model's modules to a device (override when the model holds modules elsewhere)."""
        self.device = torch.device(device)
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(self.device)
        return self


class DualEncoder(Model):
    """Base class for dual encoders: implement the two encoders (attributes: see `Model`)."""

    @abc.abstractmethod
    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        """`[B, T, 3, H, W]` -> `[B, ...]`."""

    @abc.abstractmethod
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """N strings -> `[N, ...]`."""

    def similarity(self, video_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """`[B, ...]` x `[N, ...]` -> `[B, N]`; cosine by default."""
        v = torch.nn.functional.normalize(video_emb.float(), dim=-1)
        t = torch.nn.functional.normalize(text_emb.float(), dim=-1)
        return v @ t.T


VideoTextModel = DualEncoder  # the name used before the bases were public; both stay


class CrossEncoder(Model):
    """Base class for models that score (video, text) pairs jointly (attributes: see `Model`).

    A generative video-LLM in likelihood mode is a cross-encoder: s = log P(text | video, prompt).
    """

    name: str = "cross-encoder"

    @abc.abstractmethod
    def score(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """`[B, T, 3, H, W]` and N texts -> `[B, N]` (all pairs)."""


class ProbeScorer(Model):
    """Base class for models that score whole probes: (s_true, s_foil) per probe (attributes: see `Model`).

    The slot for a generative model in choice mode (both options shown, both orders) or a text-only line. The
    harness decodes every clip as for any model (a missing video removes the same probes from every row).
    """

    name: str = "probe-scorer"

    @abc.abstractmethod
    def score_probes(self, probes: list[Any]) -> torch.Tensor:  # type: ignore[override]
        """`[P, 2]`: (s_true, s_foil) per probe, in the order given."""


# ------------------------------------------------------------------------------ the load-time check

_HOW = {
    "dual": "subclass actionbench.models.DualEncoder, or define encode_videos(frames) and encode_texts(texts)",
    "cross": "subclass actionbench.models.CrossEncoder, or define score(frames, texts)",
    "probe": "subclass actionbench.models.ProbeScorer, or define score_probes(probes)",
}
_PLACEHOLDER_NAMES = ("model", "cross-encoder", "probe-scorer")


@dataclass(frozen=True)
class ModelProfile:
    """What the runner needs to know about a model, read once when it is loaded."""

    kind: str  # dual | cross (a ProbeScorer reports cross: it is scored pair-free, by probe)
    name: str
    order_invariant: bool
    logit_scale: float | None
    paired_reversal: bool  # provides encode_videos_and_reversed
    by_probe: bool  # provides score_probes: scored from the probes alone, no encoder call


def _callable(model: Any, member: str) -> bool:
    return callable(getattr(model, member, None))


def model_kind(model: Any) -> str:
    """`dual` (encode_videos + encode_texts) or `cross` (score, or score_probes alone)."""
    if _callable(model, "encode_videos") and _callable(model, "encode_texts"):
        return "dual"
    if _callable(model, "score") or _callable(model, "score_probes"):
        return "cross"
    label = getattr(model, "name", None) or type(model).__name__
    if _callable(model, "encode_videos") or _callable(model, "encode_texts"):
        missing = "encode_texts" if _callable(model, "encode_videos") else "encode_videos"
        raise ModelError(f"model {label}: no {missing}() (a dual encoder needs both; {_HOW['dual']})")
    raise ModelError(f"{type(model).__name__} is not a model: it needs encode_videos + encode_texts, or score "
                     f"({_HOW['dual']}; {_HOW['cross']}; {_HOW['probe']})")


def check_model(model: Any) -> ModelProfile:
    """Check a model object against the protocol; anything missing is one ModelError line saying how to add it.

    A subclass of the bases has every declaration; a plain class must provide the scoring methods and
    `preprocess` (the other attributes default as on `Model`).
    """
    kind = model_kind(model)
    label = getattr(model, "name", None) or type(model).__name__
    pre = getattr(model, "preprocess", None)
    if pre is None:
        raise ModelError(f"model {label}: no preprocess; add `preprocess = Preprocess(size=(224, 224))` "
                         "(from actionbench.models; CLIP mean/std by default) to the class, or subclass "
                         "actionbench.models.DualEncoder / CrossEncoder, which default to it")
    for member in ("size", "mean", "std", "to_dict"):
        if not hasattr(pre, member):
            raise ModelError(f"model {label}: preprocess is a {type(pre).__name__}, not an "
                             "actionbench.models.Preprocess (it has no {member})".replace("{member}", member))
    pair = getattr(model, "encode_videos_and_reversed", None)
    probes = getattr(model, "score_probes", None)
    scale = getattr(model, "logit_scale", None)
    return ModelProfile(
        kind=kind,
        name=label,
        order_invariant=bool(getattr(model, "order_invariant", False)),
        logit_scale=None if scale is None else float(scale),
        paired_reversal=kind == "dual" and callable(pair),
        by_probe=callable(probes),
    )


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: how to create a model by name, and what it needs."""

    name: str
    factory: Callable[..., Any]
    description: str = ""
    weights: str = "none"  # what the user must provide, e.g. "--checkpoint InternVideo-MM-L-14.safetensors"
    source: str = "built-in"  # built-in | entry point <dist> | file
    prefix: bool = False  # True: the entry matches "<name>:<rest>" and the factory receives rest=...
    extra: dict[str, Any] = field(default_factory=dict)
    wraps: bool = False  # with prefix: <rest> names a model; the registry creates it and passes inner=...
