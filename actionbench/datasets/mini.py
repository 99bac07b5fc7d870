"""The embedded mini benchmark: small synthetic SSv2- and Ego4D-style datasets that need no download.

Every clip shows coloured shapes on a textured background. Its action is visible only over time: each
antonym pair shares one scene family, and a clip of the second verb is a clip of the first verb played
backwards (same scene distribution, reversed progress). So the frames of a clip and of its antonym come
from the same distribution, and a frame-mean (order-invariant) model is at chance on Action Antonym and Video
Reversal; its objects (colour + shape) are visible in every frame, so Object Replacement is easy for any
model. Every scene moves a latent state `q` in [0, 1] (position, lid angle, size, fill level, ...) by
`AMPLITUDE` around a uniformly drawn centre: the middle frame tells nothing of the direction, the end frames
tell it as the first frame of a real "opening" shows a closed box (the `first-frame:`/`last-frame:` controls
show whether a model uses that).

Files follow the official layouts: SSv2 `labels.json`, `train.json`, `validation.json` and VP9 `.webm`
videos; Ego4D `egoclip.jsonl` (EgoClip-derived layout) and H.264 `.mp4` clip files in which the narrated
window lies inside a longer clip. Everything is derived from the seed and ids (`seeded_rng`), never from
order or process, so one seed always gives the same annotation bytes and the same decoded frames.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np

from actionbench.datasets.records import ego4d_split
from actionbench.errors import InputError
from actionbench.ids import seeded_rng, stable_hash

FRAME_SIZE = 64
FPS = 10
SSV2_FRAMES = 20  # 2 s
EGO4D_FRAMES = 40  # 4 s clip files; the narrated window (1.6-2.4 s) lies inside
AMPLITUDE = 0.3  # how far a bounded clip moves its latent state (fraction of the state's range)

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 35, 35),
    "green": (40, 175, 60),
    "blue": (45, 80, 235),
    "yellow": (245, 220, 40),
    "purple": (150, 55, 205),
    "orange": (255, 135, 20),
}
SHAPES = ("cube", "ball", "cone", "star", "ring", "cross")  # things that move
CONTAINERS = ("cup", "bowl")  # glass vessels: things go into them, liquid fills them
OPENABLES = ("box", "jar")
NOUNS = SHAPES + CONTAINERS + OPENABLES + ("lamp", "balloon")
# Every object name a mini caption can use: an object-replacement vocabulary for this benchmark would draw here.
OBJECT_NAMES = tuple(f"{colour} {noun}" for colour in COLOURS for noun in NOUNS)

SKIN = (222, 186, 160)
CLOTH = (222, 222, 212)
ROPE = (80, 60, 45)

# (scene family, template of the forward clip, template of the reversed clip)
SSV2_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("push", "Pushing [something] from left to right", "Pushing [something] from right to left"),
    ("pull", "Pulling [something] from left to right", "Pulling [something] from right to left"),
    ("move_vertical", "Moving [something] up", "Moving [something] down"),
    ("move_depth", "Moving [something] towards the camera", "Moving [something] away from the camera"),
    (
        "move_pair",
        "Moving [something] and [something] closer to each other",
        "Moving [something] and [something] away from each other",
    ),
    (
        "pan",
        "Turning the camera left while filming [something]",
        "Turning the camera right while filming [something]",
    ),
    (
        "tilt",
        "Turning the camera upwards while filming [something]",
        "Turning the camera downwards while filming [something]",
    ),
    ("dolly", "Approaching [something] with your camera", "Moving away from [something] with your camera"),
    ("open", "Opening [something]", "Closing [something]"),
    ("insert", "Putting [something] into [something]", "Taking [something] out of [something]"),
    ("tip", "Tipping [something] over", "Putting [something] upright on the table"),
)

# (scene family, verb lemma of the forward clip, of the reversed clip)
EGO4D_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("ego_pick", "pick up", "put down"),
    ("ego_open", "open", "close"),
    ("ego_cover", "cover", "uncover"),
    ("ego_push", "push", "pull"),
    ("ego_lift", "lift", "lower"),
    ("ego_fill", "fill", "empty"),
    ("ego_switch", "turn on", "turn off"),
    ("ego_inflate", "inflate", "deflate"),
)
EGO4D_VERBS = tuple(v for _, a, b in EGO4D_PAIRS for v in (a, b))
_THIRD_PERSON = {
    "pick up": "picks up",
    "put down": "puts down",
    "push": "pushes",
    "empty": "empties",
    "turn on": "turns on",
    "turn off": "turns off",
}


def third_person(verb: str) -> str:
    """'pick up' -> 'picks up', 'open' -> 'opens' (the verbs of `EGO4D_PAIRS`)."""
    return _THIRD_PERSON.get(verb, verb + "s")


@dataclass(frozen=True)
class MiniSize:
    """How many clips a size holds (SSv2 counts are clips, Ego4D counts are videos of `windows_per_video`)."""

    ssv2_train: int
    ssv2_validation: int
    ego4d_train_videos: int
    ego4d_val_videos: int
    ego4d_test_videos: int
    windows_per_video: int


SIZES: dict[str, MiniSize] = {
    "default": MiniSize(2420, 660, 200, 34, 34, 8),
    "tiny": MiniSize(22, 22, 4, 2, 2, 4),
}


class MiniDataError(InputError):
    """A bad request for the mini benchmark (unknown size, output folder not empty, ...)."""


@dataclass(frozen=True)
class MiniInfo:
    """What `generate_mini` wrote: roots, clip counts per split and how long it took."""

    root: Path
    ssv2_root: Path  # labels.json, train.json, validation.json, videos/<id>.webm
    ego4d_root: Path  # egoclip.jsonl, videos/<clip_uid>.mp4
    seed: int
    size: str
    counts: dict[str, dict[str, int]]
    seconds: float

    def __str__(self) -> str:
        parts = "; ".join(
            f"{dataset} " + ", ".join(f"{split} {n}" for split, n in splits.items())
            for dataset, splits in self.counts.items()
        )
        return f"{parts} (seed {self.seed}, size {self.size}, {self.seconds:.1f} s)"

    @property
    def ssv2_videos(self) -> Path:
        return self.ssv2_root / "videos"

    @property
    def ego4d_videos(self) -> Path:
        return self.ego4d_root / "videos"


@dataclass(frozen=True)
class Thing:
    """A coloured shape: what a caption names ("red cube") and what the frames show."""

    colour: str
    shape: str

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class ScenePlan:
    """Everything needed to render one clip; rendering is a pure function of it."""

    family: str
    forward: bool  # False: the antonym, i.e. the forward scene played backwards
    things: tuple[Thing, ...]
    params: dict[str, Any]
    num_frames: int
    window: tuple[int, int] | None = None  # first and last frame of the action; static before and after

    def progress(self) -> np.ndarray:
        """Forward-scene progress in [0, 1] at each frame (mirrored for the antonym, exactly)."""
        a, b = self.window if self.window else (0, self.num_frames - 1)
        steps = np.arange(self.num_frames) - a if self.forward else b - np.arange(self.num_frames)
        return np.clip(steps / max(b - a, 1), 0.0, 1.0)


@dataclass(frozen=True)
class SSv2Clip:
    """One SSv2-style record and its scene."""

    id: str
    split: str  # train | validation
    template: str
    placeholders: tuple[str, ...]
    plan: ScenePlan

    @property
    def label(self) -> str:
        return fill_template(self.template, self.placeholders).lower()

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "template": self.template,
            "placeholders": list(self.placeholders),
        }


@dataclass(frozen=True)
class Ego4DWindow:
    """One EgoClip-style narration window, its clip file and its scene."""

    video_uid: str
    clip_uid: str
    split: str  # train | val | test (from `ego4d_split(video_uid)`)
    verb: str
    text: str
    plan: ScenePlan
    record: dict[str, Any] = field(default_factory=dict)


def fill_template(template: str, placeholders: tuple[str, ...] | list[str]) -> str:
    """Put the placeholders into the bracketed slots, in order."""
    parts = template.split("[")
    if len(parts) - 1 != len(placeholders):
        raise MiniDataError(
            f"template {template!r} has {len(parts) - 1} slots, got {len(placeholders)} placeholders"
        )
    out = parts[0]
    for part, filler in zip(parts[1:], placeholders, strict=True):
        out += filler + part.split("]", 1)[1]
    return out


# ----------------------------------------------------------------------------------------------------------
# Drawing: signed distances on a 64x64 grid, soft edges, numpy only.

# Pixel centres as a column and a row: expressions broadcast to full frames only where they must, which
# keeps per-axis work (offsets) 64 times smaller.
_YY = np.arange(FRAME_SIZE, dtype=np.float32)[:, None] + np.float32(0.5)
_XX = np.arange(FRAME_SIZE, dtype=np.float32)[None, :] + np.float32(0.5)


def _alpha(sdf: np.ndarray) -> np.ndarray:
    return np.clip(0.5 - sdf, 0.0, 1.0)


def _paint(img: np.ndarray, alpha: np.ndarray, colour: Any, opacity: Any = 1.0) -> None:
    """Blend a colour (RGB, or `[T, 1, 1, 3]`) into frames `[T, H, W, 3]` with coverage alpha."""
    a = (alpha * opacity)[..., None]
    img *= 1.0 - a
    img += a * np.asarray(colour, dtype=np.float32)


def _shape_sdf(shape: str, u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    """Signed distance (pixels, negative inside) of a shape of half-size r centred at u = v = 0 (v points down)."""
    if shape in ("cube", "box"):
        return np.maximum(np.abs(u), np.abs(v)) - r
    if shape in ("ball", "balloon"):
        return np.hypot(u, v) - r
    if shape == "cone":
        au, av = u, v + r  # apex at (0, -r), base from (-r, r) to (r, r)
        k = 1 / math.sqrt(5.0)
        return np.maximum(np.maximum((2 * au - av) * k, (-2 * au - av) * k), v - r)
    if shape == "star":
        rho = np.hypot(u, v)
        theta = np.arctan2(u, -v)
        return (rho - r * (0.62 + 0.38 * np.cos(5 * theta))) * 0.8
    if shape == "ring":
        return np.abs(np.hypot(u, v) - 0.68 * r) - 0.32 * r
    if shape == "cross":
        arm = 0.36 * r
        return np.minimum(
            np.maximum(np.abs(u) - r, np.abs(v) - arm), np.maximum(np.abs(u) - arm, np.abs(v) - r)
        )
    if shape == "jar":
        q = np.maximum(np.abs(u) - 0.55 * r, 0.0), np.maximum(np.abs(v) - 0.55 * r, 0.0)
        return np.hypot(*q) - 0.45 * r
    raise MiniDataError(f"no drawing for shape {shape!r}")


def _capsule_sdf(ax: float, ay: float, bx: float, by: float, radius: float) -> np.ndarray:
    px, py, dx, dy = _XX - ax, _YY - ay, bx - ax, by - ay
    h = np.clip((px * dx + py * dy) / np.maximum(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
    return np.hypot(px - h * dx, py - h * dy) - radius


def _ellipse_sdf(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    dx, dy = _XX - cx, _YY - cy
    return (np.hypot(dx / rx, dy / ry) - 1.0) * np.minimum(rx, ry)


def _draw_thing(
    img: np.ndarray,
    thing: Thing,
    cx: float,
    cy: float,
    r: float,
    *,
    angle: float = 0.0,
    aspect: float = 1.0,
    opacity: float = 1.0,
) -> None:
    dx, dy = _XX - cx, _YY - cy
    if np.any(angle):
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    sdf = _shape_sdf(thing.shape, dx, dy / aspect, r)
    _paint(img, _alpha(sdf), COLOURS[thing.colour], opacity)


@dataclass(frozen=True)
class _Texture:
    """A smooth random texture, periodic over the frame, so camera moves show and pans wrap seamlessly."""

    fx: np.ndarray
    fy: np.ndarray
    amp: np.ndarray
    phase: np.ndarray
    base: np.ndarray
    tint: np.ndarray
    _still: list[np.ndarray] = field(default_factory=list, compare=False, repr=False)

    def still(self, s: np.ndarray) -> np.ndarray:
        """The unmoved texture behind every frame of progress `s` (a fresh `[T, H, W, 3]` to draw on)."""
        if not self._still:
            self._still.append(self.render(_XX, _YY))
        return np.broadcast_to(self._still[0], (len(s), *self._still[0].shape)).copy()

    def shifted(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """The texture moved by (dx, dy) `[T, 1, 1]` pixels: `[T, H, W, 3]` (a pan; cheaper than `render`)."""
        w = np.float32(2 * math.pi / FRAME_SIZE)
        k = (-1, 1, 1, 1)
        x, y = np.broadcast_arrays(_XX, _YY)
        a = w * (self.fx.reshape(-1, 1, 1) * x + self.fy.reshape(-1, 1, 1) * y) + self.phase.reshape(-1, 1, 1)
        b = w * (self.fx.reshape(k) * dx[None] + self.fy.reshape(k) * dy[None])  # [K, T, 1, 1]
        waves = (np.cos(a)[:, None] * np.cos(b) + np.sin(a)[:, None] * np.sin(b)) * self.amp.reshape(k)
        return self._colour(waves)

    def render(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The texture at coordinates x, y (any matching shapes; `[..., 3]` out)."""
        w = np.float32(2 * math.pi / FRAME_SIZE)
        x, y = np.broadcast_arrays(x, y)
        k = (-1,) + (1,) * x.ndim
        arg = w * (self.fx.reshape(k) * x + self.fy.reshape(k) * y) + self.phase.reshape(k)
        waves = np.cos(arg) * self.amp.reshape(k)
        return self._colour(waves)

    def _colour(self, waves: np.ndarray) -> np.ndarray:
        lum = 1.0 + waves.sum(0)
        colour_wave = 1.0 + 0.5 * waves[0]
        return self.base * lum[..., None] + (self.tint * colour_wave[..., None])


def _texture(rng: np.random.Generator, ego: bool) -> _Texture:
    k = 6
    fx = rng.integers(-5, 6, k).astype(np.float64)
    fy = rng.integers(-5, 6, k).astype(np.float64)
    fx[fx == 0] = 1.0  # keep every component moving with a horizontal pan
    fy[fy == 0] = -1.0  # ... and with a vertical one
    amp = rng.uniform(0.3, 1.0, k)
    amp *= rng.uniform(0.26, 0.34) / amp.sum()
    phase = rng.uniform(0, 2 * math.pi, k)
    if ego:  # a wooden-ish table seen from above
        base = np.array([140.0, 124.0, 104.0]) * rng.uniform(0.85, 1.1)
    else:  # a grey-beige wall
        base = np.full(3, rng.uniform(105, 150)) + rng.uniform(-8, 8, 3)
    tint = rng.uniform(-10, 10, 3)
    return _Texture(*(a.astype(np.float32) for a in (fx, fy, amp, phase, base, tint)))


def _centred(p: dict[str, Any], s: Any) -> Any:
    """Bounded latent state of a centred clip at progress s: centre + AMPLITUDE * (s - 1/2)."""
    return p["c"] + AMPLITUDE * (s - 0.5)


def _draw_hand(img: np.ndarray, x: float, y: float, rx: float = 4.0, ry: float = 5.0) -> None:
    _paint(img, _alpha(_ellipse_sdf(x, y, rx, ry)), SKIN)


def _draw_arm(img: np.ndarray, hx: float, hy: float, ex: float, ey: float) -> None:
    _paint(img, _alpha(_capsule_sdf(hx, hy, ex, ey, 3.0)), SKIN)


# Each family: sample(rng) -> params (never depends on the direction), draw(params, things, s) -> frame,
# state(params, s) -> the latent scalar a one-frame observer could read off (position, angle, size...).


def _sample_translate(rng: np.random.Generator, ego: bool = False) -> dict[str, Any]:
    return {
        "tex": _texture(rng, ego=ego),
        "c": rng.uniform(AMPLITUDE / 2, 1 - AMPLITUDE / 2),
        "cross": rng.uniform(16, 48),  # the fixed coordinate
        "r": rng.uniform(6, 8.5),
        "side": float(rng.choice([-1.0, 1.0])),
    }


def _track(p: dict[str, Any], s: Any) -> Any:
    """Position along the axis of motion (pixels): the centred state mapped onto the frame, margins kept."""
    lo = p["r"] + 4.0
    return lo + _centred(p, s) * (FRAME_SIZE - 2 * lo)


def _draw_push(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    x, y, r = _track(p, s), p["cross"], p["r"]
    _draw_hand(img, x + p["side"] * (r + 3.5), y, 3.0, 6.5)
    _draw_thing(img, things[0], x, y, r)
    return img


def _draw_pull(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    x, y, r, side = _track(p, s), p["cross"], p["r"], p["side"]
    along = side * (_XX - x)
    rope = (along > r - 1) & (along < r + 12) & (np.abs(_YY - y) < 1.0)
    _paint(img, rope.astype(np.float32), ROPE)
    _draw_hand(img, x + side * (r + 14), y, 4.0, 4.0)
    _draw_thing(img, things[0], x, y, r)
    return img


def _draw_move_vertical(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    _draw_thing(img, things[0], p["cross"], FRAME_SIZE - _track(p, s), p["r"])  # forward = up
    return img


def _draw_pan(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    o = _track(p, s)  # turning the camera left moves the whole scene right in the frame
    img = p["tex"].shifted(o, 0 * o)
    _draw_thing(img, things[0], o, p["cross"], p["r"])
    return img


def _draw_tilt(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    o = _track(p, s)  # turning the camera upwards moves the whole scene down in the frame
    img = p["tex"].shifted(0 * o, o)
    _draw_thing(img, things[0], p["cross"], o, p["r"])
    return img


def _sample_centred(rng: np.random.Generator, ego: bool = False, **extra: Any) -> dict[str, Any]:
    p = {
        "tex": _texture(rng, ego=ego),
        "c": rng.uniform(AMPLITUDE / 2, 1 - AMPLITUDE / 2),
        "x": rng.uniform(24, 40),
        "y": rng.uniform(24, 40),
        "r": rng.uniform(5.5, 7.0),
        "side": float(rng.choice([-1.0, 1.0])),
    }
    p.update({k: f(rng) for k, f in extra.items()})
    return p


def _draw_move_depth(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    _draw_thing(img, things[0], p["x"], p["y"], 4.0 * 5.0 ** _centred(p, s))  # radius 4..20
    return img


def _draw_move_pair(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    r = p["r"]
    dmin, dmax = 2 * r + 3, 56.0
    d = dmax - _centred(p, s) * (dmax - dmin)  # forward = closer
    left, right = (things[0], things[1]) if p["side"] > 0 else (things[1], things[0])
    _draw_thing(img, left, 32 - d / 2, p["y"], r)
    _draw_thing(img, right, 32 + d / 2, p["y"], r)
    return img


def _draw_dolly(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    z = 0.7 * 3.0 ** _centred(p, s)  # forward = approaching: zoom 0.7..2.1 about the thing
    fx, fy = p["x"], p["y"]
    img = p["tex"].render(fx + (_XX - fx) / z, fy + (_YY - fy) / z)
    _draw_thing(img, things[0], fx, fy, p["r"] * z)
    return img


def _draw_box(
    img: np.ndarray, thing: Thing, cx: float, cy: float, w: float, h: float, side: float, q: float
) -> tuple[float, float]:
    """An openable thing with a hinged lid at angle q * 110 degrees; returns the lid's tip."""
    colour = COLOURS[thing.colour]
    body = (
        _shape_sdf(thing.shape, (_XX - cx) / (w / h), _YY - cy, h / 2)
        if thing.shape == "jar"
        else np.maximum(np.abs(_XX - cx) - w / 2, np.abs(_YY - cy) - h / 2)
    )
    _paint(img, _alpha(body), colour)
    angle = q * math.radians(110)
    top = cy - h / 2
    inside = np.maximum(np.abs(_XX - cx) - (w / 2 - 2), np.abs(_YY - (top + 2)) - 1.5)
    _paint(img, _alpha(inside), (30, 25, 20), opacity=np.minimum(1.0, 3 * np.sin(angle)))
    hx, hy = cx - side * w / 2, top
    tx, ty = hx + side * w * np.cos(angle), hy - w * np.sin(angle)
    _paint(img, _alpha(_capsule_sdf(hx, hy, tx, ty, 2.6)), tuple(0.75 * c for c in colour))
    return tx, ty


def _draw_open(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    _draw_box(img, things[0], p["x"], p["y"] + 6, p["w"], p["h"], p["side"], _centred(p, s))
    return img


def _container_sdf(shape: str, cx: float, bottom: float, height: float) -> np.ndarray:
    if shape == "cup":  # a tall trapezoid, wider at the rim
        v = (_YY - (bottom - height / 2)) / height  # -0.5 at the rim, 0.5 at the bottom
        half = 12.0 - 8.0 * (v + 0.5) * 0.5
        return np.maximum(np.abs(_XX - cx) - half, np.abs(_YY - (bottom - height / 2)) - height / 2)
    # bowl: the lower half of an ellipse
    ellipse = (np.hypot((_XX - cx) / 15.0, (_YY - (bottom - height)) / height) - 1.0) * min(15.0, height)
    return np.maximum(ellipse, (bottom - height) - _YY)


def _draw_glass_body(img: np.ndarray, thing: Thing, sdf: np.ndarray) -> None:
    """The tinted inside of a glass vessel, drawn behind its contents (which so keep their colour)."""
    _paint(img, _alpha(sdf), COLOURS[thing.colour], opacity=0.4)


def _draw_glass_rim(img: np.ndarray, thing: Thing, sdf: np.ndarray) -> None:
    """The solid outline of a glass vessel, drawn over its contents (what makes them look inside)."""
    _paint(img, _alpha(np.abs(sdf + 0.8) - 0.9), COLOURS[thing.colour])


def _draw_insert(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    vessel = things[1]
    height = 20.0 if vessel.shape == "cup" else 14.0
    bottom, r = 58.0, 6.5
    rim = bottom - height
    y = (rim - 30) + _centred(p, s) * (height + 26)  # forward = putting in: from well above to the bottom
    glass = _container_sdf(vessel.shape, p["x"], bottom, height)
    _draw_glass_body(img, vessel, glass)
    _draw_thing(img, things[0], p["x"], y, r)
    _draw_glass_rim(img, vessel, glass)
    return img


def _draw_tip(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    table = 50.0
    _paint(img, _alpha(table - _YY), (95, 85, 75))
    r, aspect, side = 7.0, 1.8, p["side"]
    big_h = r * aspect
    a = side * _centred(p, s) * math.pi / 2  # forward = tipping over: upright -> lying
    vx, vy = -side * r, -big_h  # centre seen from the pivot corner, upright
    cx = p["x"] + vx * np.cos(a) - vy * np.sin(a)
    cy = table + vx * np.sin(a) + vy * np.cos(a)
    _draw_thing(img, things[0], cx, cy, r, angle=a, aspect=aspect)
    return img


def _draw_ego_pick(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    h = _centred(p, s) * 28.0  # forward = picking up: height above the table
    x, r, rest = p["x"], p["r"], 54.0
    _paint(
        img,
        _alpha(_ellipse_sdf(x, rest + r * 0.4, r * 1.1, r * 0.45)),
        (40, 35, 30),
        opacity=0.4 * (1 - h / 40),
    )
    y = rest - h
    _draw_thing(img, things[0], x, y, r)
    _draw_arm(img, x, y - r - 2, x + 10, -6)
    _draw_hand(img, x, y - r - 2, 6.0, 3.5)
    return img


def _draw_ego_open(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    tx, ty = _draw_box(img, things[0], p["x"], p["y"] + 8, p["w"], p["h"], p["side"], _centred(p, s))
    _draw_arm(img, tx, ty, tx + p["side"] * 8, -6)
    _draw_hand(img, tx, ty, 3.5, 3.5)
    return img


def _draw_ego_cover(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    x, y, r, side = p["x"], p["y"], p["r"], p["side"]
    _draw_thing(img, things[0], x, y, r)
    # forward = covering: the cloth's edge slides from beside the thing to over three quarters of it (never
    # all of it, so the thing's colour stays visible in every frame)
    edge = x - side * (r + 8) + side * _centred(p, s) * (1.5 * r + 8)
    along = side * (_XX - edge)
    cloth = np.maximum(along, np.abs(_YY - y) - (r + 6))
    _paint(img, _alpha(cloth), CLOTH, opacity=0.6)
    _draw_arm(img, edge, y + r + 4, edge + side * 4, 70)
    _draw_hand(img, edge, y + r + 4, 3.5, 4.0)
    return img


def _draw_ego_push(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    d = _centred(p, s)  # forward = pushing: away from the camera (up and smaller)
    r = p["r"] * 1.2 * (1 - 0.4 * d)
    y = 50 - 30 * d
    _draw_arm(img, p["x"], y + r + 3, p["x"] - 6, 70)
    _draw_hand(img, p["x"], y + r + 3, 4.5, 3.5)
    _draw_thing(img, things[0], p["x"], y, r)
    return img


def _draw_ego_lift(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    x, y, r = p["cross"], FRAME_SIZE - _track(p, s), p["r"]  # forward = lifting: up
    _draw_hand(img, x - r - 3, y, 3.0, 5.0)
    _draw_hand(img, x + r + 3, y, 3.0, 5.0)
    _draw_thing(img, things[0], x, y, r)
    return img


def _draw_ego_fill(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    vessel = things[0]
    height = 38.0 if vessel.shape == "cup" else 28.0
    bottom = 60.0
    sdf = _container_sdf(vessel.shape, p["x"], bottom, height)
    level = bottom - (0.05 + 0.9 * _centred(p, s)) * height  # forward = filling
    liquid = np.maximum(sdf + 1.5, level - _YY)
    _draw_glass_body(img, vessel, sdf)
    _paint(img, _alpha(liquid), (175, 205, 230))
    _draw_glass_rim(img, vessel, sdf)
    return img


def _draw_ego_switch(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    b = _centred(p, s)  # forward = turning on: brighter
    img = p["tex"].still(s) * (0.7 + 0.3 * b)[..., None]
    x, y = p["x"], 22.0
    glow = np.exp(-((_XX - x) ** 2 + (_YY - (y + 10)) ** 2) / (2 * 13.0**2))
    img += (b * 110.0 * glow)[..., None] * np.array([1.0, 0.95, 0.75])
    _paint(img, _alpha(_capsule_sdf(x, y + 10, x, 60, 1.5)), (60, 55, 50))
    bulb = np.stack([d + b * (u - d) for d, u in zip((110, 105, 90), (255, 250, 215), strict=True)], -1)
    _paint(img, _alpha(_ellipse_sdf(x, y + 9, 5.0, 5.0)), bulb)
    v = (_YY - y) / 10.0
    shade = np.maximum(np.abs(_XX - x) - (7 + 5 * np.clip(v + 0.5, 0, 1)), np.abs(_YY - y) - 5)
    _paint(img, _alpha(shade), COLOURS[things[0].colour])
    return img


def _draw_ego_inflate(p: dict[str, Any], things: tuple[Thing, ...], s: np.ndarray) -> np.ndarray:
    img = p["tex"].still(s)
    r = 5.0 * 3.4 ** _centred(p, s)  # forward = inflating: radius 5..17
    x, knot = p["x"], 46.0
    _paint(img, _alpha(_capsule_sdf(x, knot, x, 58, 0.6)), ROPE)
    _draw_hand(img, x, 59, 4.5, 3.5)
    _draw_thing(img, things[0], x, knot - 1.15 * r, r, aspect=1.15)
    return img


@dataclass(frozen=True)
class _Family:
    sample: Callable[[np.random.Generator], dict[str, Any]]
    draw: Callable[[dict[str, Any], tuple[Thing, ...], np.ndarray], np.ndarray]  # progress [T,1,1] -> frames
    state: Callable[[dict[str, Any], float], float]
    roles: tuple[str, ...]  # what each thing is: "shape", "container", "openable", "lamp", "balloon"


def _centred_state(p: dict[str, Any], s: float) -> float:
    return float(_centred(p, s))


def _box_extra() -> dict[str, Callable[[np.random.Generator], float]]:
    return {"w": lambda g: g.uniform(18, 26), "h": lambda g: g.uniform(11, 16)}


FAMILIES: dict[str, _Family] = {
    "push": _Family(_sample_translate, _draw_push, _centred_state, ("shape",)),
    "pull": _Family(_sample_translate, _draw_pull, _centred_state, ("shape",)),
    "move_vertical": _Family(_sample_translate, _draw_move_vertical, _centred_state, ("shape",)),
    "move_depth": _Family(_sample_centred, _draw_move_depth, _centred_state, ("shape",)),
    "move_pair": _Family(_sample_centred, _draw_move_pair, _centred_state, ("shape", "shape")),
    "pan": _Family(_sample_translate, _draw_pan, _centred_state, ("shape",)),
    "tilt": _Family(_sample_translate, _draw_tilt, _centred_state, ("shape",)),
    "dolly": _Family(_sample_centred, _draw_dolly, _centred_state, ("shape",)),
    "open": _Family(lambda g: _sample_centred(g, **_box_extra()), _draw_open, _centred_state, ("openable",)),
    "insert": _Family(_sample_centred, _draw_insert, _centred_state, ("shape", "container")),
    "tip": _Family(_sample_centred, _draw_tip, _centred_state, ("shape",)),
    "ego_pick": _Family(lambda g: _sample_centred(g, ego=True), _draw_ego_pick, _centred_state, ("shape",)),
    "ego_open": _Family(
        lambda g: _sample_centred(g, ego=True, **_box_extra()), _draw_ego_open, _centred_state, ("openable",)
    ),
    "ego_cover": _Family(lambda g: _sample_centred(g, ego=True), _draw_ego_cover, _centred_state, ("shape",)),
    "ego_push": _Family(lambda g: _sample_centred(g, ego=True), _draw_ego_push, _centred_state, ("shape",)),
    "ego_lift": _Family(lambda g: _sample_translate(g, ego=True), _draw_ego_lift, _centred_state, ("shape",)),
    "ego_fill": _Family(
        lambda g: _sample_centred(g, ego=True), _draw_ego_fill, _centred_state, ("container",)
    ),
    "ego_switch": _Family(
        lambda g: _sample_centred(g, ego=True), _draw_ego_switch, _centred_state, ("lamp",)
    ),
    "ego_inflate": _Family(
        lambda g: _sample_centred(g, ego=True), _draw_ego_inflate, _centred_state, ("balloon",)
    ),
}

_ROLE_SHAPES = {
    "shape": SHAPES,
    "container": CONTAINERS,
    "openable": OPENABLES,
    "lamp": ("lamp",),
    "balloon": ("balloon",),
}


def render(plan: ScenePlan) -> np.ndarray:
    """The clip's frames as uint8 `[T, 64, 64, 3]` (before video encoding)."""
    # All frames at once (numpy broadcasts over time); held frames of an Ego4D clip are drawn once.
    values, which = np.unique(plan.progress(), return_inverse=True)
    frames = FAMILIES[plan.family].draw(plan.params, plan.things, values.astype(np.float32)[:, None, None])
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)[which]


def latent_states(plan: ScenePlan) -> np.ndarray:
    """The latent state a one-frame observer could read off each frame (position, angle, size, level...)."""
    family = FAMILIES[plan.family]
    return np.array([family.state(plan.params, float(s)) for s in plan.progress()])


# ----------------------------------------------------------------------------------------------------------
# Planning: which clips exist, their captions and scenes (cheap; no pixels).


def _things(rng: np.random.Generator, roles: tuple[str, ...]) -> tuple[Thing, ...]:
    colours = rng.permutation(list(COLOURS))
    out: list[Thing] = []
    for i, role in enumerate(roles):
        shapes = [s for s in _ROLE_SHAPES[role] if all(t.shape != s for t in out)]
        out.append(Thing(str(colours[i]), str(rng.choice(shapes))))
    return tuple(out)


def _placeholder(rng: np.random.Generator, thing: Thing) -> str:
    """With or without a determiner, as real SSv2 placeholders are ("a pen", "the wallet", "nail clipper")."""
    u = rng.uniform()
    if u < 0.45:
        return f"the {thing.name}"
    if u < 0.8:
        return f"{'an' if thing.name[0] in 'aeiou' else 'a'} {thing.name}"
    return thing.name


def plan_ssv2(seed: int, size: str = "default") -> list[SSv2Clip]:
    """The SSv2-style clips of a size: antonym twins (same objects, independent scenes), templates balanced."""
    spec = _size(size)
    clips: list[SSv2Clip] = []
    next_id = 1
    for split, n in (("train", spec.ssv2_train), ("validation", spec.ssv2_validation)):
        for pair_no in range(n // 2):
            family, forward_template, backward_template = SSV2_PAIRS[pair_no % len(SSV2_PAIRS)]
            pair_rng = seeded_rng("mini", seed, "ssv2-pair", split, pair_no)
            things = _things(pair_rng, FAMILIES[family].roles)
            placeholders = tuple(_placeholder(pair_rng, t) for t in things)
            for forward, template in ((True, forward_template), (False, backward_template)):
                clip_id = str(next_id)
                next_id += 1
                rng = seeded_rng("mini", seed, "ssv2", clip_id)
                plan = ScenePlan(family, forward, things, FAMILIES[family].sample(rng), SSV2_FRAMES)
                clips.append(SSv2Clip(clip_id, split, template, placeholders, plan))
    return clips


def _uuid(*parts: Any) -> str:
    h = stable_hash(*parts, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _narration(rng: np.random.Generator, verb: str, thing: Thing) -> str:
    """Real Ego4D style: '#C C picks up the red cube', sometimes '#O the man X ...', odd case or spacing."""
    obj = f"the {thing.name}" if rng.uniform() < 0.85 else f"a {thing.name}"
    u = rng.uniform()
    if u < 0.12:
        text = f"#O the man X {third_person(verb)} {obj}"
    elif u < 0.2:
        text = f"#C  C {third_person(verb)} {obj}"
    else:
        text = f"#C C {third_person(verb)} {obj}"
    if rng.uniform() < 0.06:
        text = text.lower()
    ending = rng.uniform()
    return text + ("." if ending < 0.3 else " " if ending < 0.4 else "")


def _ego4d_video_uids(seed: int, spec: MiniSize) -> list[tuple[str, str]]:
    """(split, video_uid): candidate uids tried in order of the seed until each split has its quota."""
    quota = {"train": spec.ego4d_train_videos, "val": spec.ego4d_val_videos, "test": spec.ego4d_test_videos}
    out: list[tuple[str, str]] = []
    for k in count():
        if not any(quota.values()):
            return out
        uid = _uuid("mini", seed, "ego4d-video", k)
        split = ego4d_split(uid)
        if quota[split]:
            quota[split] -= 1
            out.append((split, uid))
    raise AssertionError("unreachable")


def plan_ego4d(seed: int, size: str = "default") -> list[Ego4DWindow]:
    """The Ego4D-style windows of a size, in antonym twins within each video, verb pairs balanced per split."""
    spec = _size(size)
    pairs_per_video = spec.windows_per_video // 2
    windows: list[Ego4DWindow] = []
    ordinal = {"train": 0, "val": 0, "test": 0}
    for split, uid in _ego4d_video_uids(seed, spec):
        video_rng = seeded_rng("mini", seed, "ego4d-video", uid)
        offset = float(video_rng.uniform(2, 30))
        video_windows: list[Ego4DWindow] = []
        for j in range(pairs_per_video):
            family, forward_verb, backward_verb = EGO4D_PAIRS[
                (ordinal[split] * pairs_per_video + j) % len(EGO4D_PAIRS)
            ]
            things = _things(video_rng, FAMILIES[family].roles)
            order = [True, False] if video_rng.uniform() < 0.5 else [False, True]
            for forward in order:
                verb = forward_verb if forward else backward_verb
                index = len(video_windows)
                clip_uid = _uuid("mini", seed, "ego4d-clip", uid, index)
                rng = seeded_rng("mini", seed, "ego4d", clip_uid)
                length = int(rng.integers(16, 25))
                first = int(rng.integers(6, EGO4D_FRAMES - length - 4 + 1))
                window = (first, first + length - 1)
                plan = ScenePlan(family, forward, things, FAMILIES[family].sample(rng), EGO4D_FRAMES, window)
                text = _narration(rng, verb, things[0])
                rel_start, rel_end = window[0] / FPS, window[1] / FPS
                rel_mid = (rel_start + rel_end) / 2
                record = {
                    "video_uid": uid,
                    "video_dur": 0.0,  # filled in below, once the video's last clip is placed
                    "narration_source": "narration_pass_1",
                    "narration_ind": index,
                    "narration_time": round(offset + rel_mid, 6),
                    "clip_start": round(offset + rel_start, 6),
                    "clip_end": round(offset + rel_end, 6),
                    "clip_text": text,
                    "tag_verb": f"[{EGO4D_VERBS.index(verb)}]",
                    "tag_noun": f"[{NOUNS.index(things[0].shape)}]",
                    "clip_uid": clip_uid,
                    "narration_relative_time": round(rel_mid, 6),
                    "clip_relative_start": round(rel_start, 6),
                    "clip_relative_end": round(rel_end, 6),
                    "clip_fps": float(FPS),
                }
                video_windows.append(Ego4DWindow(uid, clip_uid, split, verb, text, plan, record))
                offset += EGO4D_FRAMES / FPS + float(rng.uniform(3, 40))
        duration = round(offset + float(video_rng.uniform(5, 60)), 6)
        for w in video_windows:
            w.record["video_dur"] = duration
        windows.extend(video_windows)
        ordinal[split] += 1
    return windows


def _size(size: str) -> MiniSize:
    if size not in SIZES:
        raise MiniDataError(f"unknown mini size {size!r}; choose one of {', '.join(SIZES)}")
    return SIZES[size]


# ----------------------------------------------------------------------------------------------------------
# Writing: annotations in the official layouts, videos with PyAV (one encoder thread, so bytes repeat).


def write_video(path: Path, frames: np.ndarray, codec: str) -> None:
    """Encode uint8 `[T, H, W, 3]` frames at `FPS` (libvpx-vp9 -> .webm, libx264 -> .mp4)."""
    import av

    options = (
        {"crf": "12", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "0", "lag-in-frames": "0"}
        if codec == "libvpx-vp9"
        else {"crf": "12", "preset": "veryfast", "bf": "0"}
    )
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS, options=options)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        try:
            stream.codec_context.open()
        except av.error.FFmpegError as e:
            hint = (
                " (decord was imported first in this process: it bundles an older libvpx that breaks PyAV's"
                " VP9 encoder; import av before decord)"
                if "decord" in sys.modules
                else ""
            )
            raise MiniDataError(f"{path}: cannot open the {codec} encoder: {e}{hint}") from None
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _render_and_write(job: tuple[ScenePlan, str, str]) -> None:
    plan, path, codec = job
    write_video(Path(path), render(plan), codec)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False) + "\n", encoding="utf-8")


def ssv2_labels(templates: list[str] | tuple[str, ...]) -> dict[str, str]:
    """labels.json layout: template without brackets -> class index (a string), indices in sorted order."""
    plain = sorted({t.replace("[", "").replace("]", "") for t in templates})
    return {t: str(i) for i, t in enumerate(plain)}


def _readme(seed: int, size: str, counts: dict[str, dict[str, int]]) -> str:
    return (
        f"{_README_TITLE} (synthetic; generated by `actionbench mini-data`)\n\n"
        f"seed: {seed}\nsize: {size}\n"
        f"ssv2: {json.dumps(counts['ssv2'])}\nego4d: {json.dumps(counts['ego4d'])}\n\n"
        "Coloured shapes on textured backgrounds, in the official SSv2 (labels.json, train.json,\n"
        "validation.json, videos/<id>.webm) and EgoClip-derived Ego4D (egoclip.jsonl, videos/<clip_uid>.mp4)\n"
        "layouts. Every caption has a closed antonym, and a clip of the antonym is drawn from the same scenes\n"
        "played backwards: actions are visible only over time, objects in every frame. Not real footage;\n"
        "numbers on it say whether a pipeline works, not how good a model is.\n"
    )


_README_TITLE = "ActionBench mini benchmark"


def _clear_previous(out: Path) -> None:
    """An earlier mini benchmark in `out` is replaced; any other non-empty folder is refused."""
    if not out.exists() or not any(out.iterdir()):
        return
    readme = out / "README.txt"
    ours = readme.is_file() and readme.read_text(encoding="utf-8", errors="replace").startswith(_README_TITLE)
    if not ours or set(p.name for p in out.iterdir()) - {"README.txt", "ssv2", "ego4d"}:
        raise MiniDataError(
            f"{out}: folder is not empty and does not hold (only) a mini benchmark; choose another"
        )
    import shutil

    for name in ("ssv2", "ego4d"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    readme.unlink()  # last, so an interrupted clean-up leaves a folder that is still recognisably ours


def generate_mini(
    out: Path,
    seed: int = 0,
    size: str = "default",
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MiniInfo:
    """Write the mini benchmark under `out` (ssv2/, ego4d/, README.txt); same seed, same files.

    An earlier mini benchmark in `out` is replaced; a folder holding anything else is refused.

    `workers` processes render and encode videos (default: up to 2 for the default size, 1 for tiny);
    `progress(done, total)` is called as videos are written.
    """
    started = time.perf_counter()
    _size(size)
    out = Path(out)
    _clear_previous(out)
    ssv2_root, ego4d_root = out / "ssv2", out / "ego4d"
    (ssv2_root / "videos").mkdir(parents=True, exist_ok=True)
    (ego4d_root / "videos").mkdir(parents=True, exist_ok=True)

    ssv2 = plan_ssv2(seed, size)
    ego4d = plan_ego4d(seed, size)
    _write_json(ssv2_root / "labels.json", ssv2_labels([t for _, a, b in SSV2_PAIRS for t in (a, b)]))
    for split in ("train", "validation"):
        _write_json(ssv2_root / f"{split}.json", [c.record() for c in ssv2 if c.split == split])
    with open(ego4d_root / "egoclip.jsonl", "w", encoding="utf-8") as f:
        for w in ego4d:
            f.write(json.dumps(w.record, ensure_ascii=False) + "\n")

    jobs = [(c.plan, str(ssv2_root / "videos" / f"{c.id}.webm"), "libvpx-vp9") for c in ssv2]
    jobs += [(w.plan, str(ego4d_root / "videos" / f"{w.clip_uid}.mp4"), "libx264") for w in ego4d]
    if workers is None:
        workers = 1 if len(jobs) < 200 else min(2, os.cpu_count() or 1)
    import av  # noqa: F401  (loaded before decord can be, where this process encodes)

    # A process that imported decord before PyAV cannot encode VP9 (write_video), so it encodes in a fresh one.
    if workers <= 1 and "decord" not in sys.modules:
        for done, job in enumerate(jobs, 1):
            _render_and_write(job)
            if progress:
                progress(done, len(jobs))
    else:
        import multiprocessing

        # Each clip depends only on its own plan, so the pool's scheduling cannot change any output.
        with multiprocessing.get_context("spawn").Pool(max(workers, 1)) as pool:
            for done, _ in enumerate(pool.imap_unordered(_render_and_write, jobs, chunksize=16), 1):
                if progress:
                    progress(done, len(jobs))

    counts = {
        "ssv2": {s: sum(c.split == s for c in ssv2) for s in ("train", "validation")},
        "ego4d": {s: sum(w.split == s for w in ego4d) for s in ("train", "val", "test")},
    }
    (out / "README.txt").write_text(_readme(seed, size, counts), encoding="utf-8")
    return MiniInfo(out, ssv2_root, ego4d_root, seed, size, counts, time.perf_counter() - started)
