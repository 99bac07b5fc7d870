"""The mini benchmark's scenes: coloured shapes drawn with signed distances on a 64x64 grid (numpy only).

Every scene family moves a latent state `q` in [0, 1] (position, lid angle, size, fill level, ...) by
`AMPLITUDE` around a uniformly drawn centre; `render(plan)` is a pure function of a `ScenePlan`. Which clips
exist, their captions and the files written are in `actionbench.datasets.mini`.

Longer than the project's ~400 lines on purpose: it is nineteen small scene families (one drawing function
each, SSv2- and Ego4D-style) over one set of signed-distance primitives; splitting the families from the
primitives they all use would scatter one idea, how a scene is drawn, over several files.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actionbench.errors import InputError


class MiniDataError(InputError):
    """A bad request for the mini benchmark (unknown size, output folder not empty, ...)."""


FRAME_SIZE = 64
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

ROLE_SHAPES = {
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


