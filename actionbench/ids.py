"""Stable ids and seeds: everything random in ActionBench is derived from content, never from order."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # built once, not per call


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the form that is hashed."""
    return _CANONICAL.encode(obj)


def canonical_jsonl(rows: Any) -> str:
    """One canonical JSON line per row (the form record files are written and hashed in)."""
    return "".join(_CANONICAL.encode(r) + "\n" for r in rows)


def stable_hash(*parts: Any, length: int = 16) -> str:
    """Hex digest of the parts (strings as they are, anything else as canonical JSON)."""
    h = hashlib.sha256()
    for part in parts:
        text = part if isinstance(part, str) else canonical_json(part)
        h.update(text.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:length]


def seeded_rng(*parts: Any) -> np.random.Generator:
    """A numpy Generator seeded by the hash of the parts."""
    return np.random.default_rng(int(stable_hash(*parts, length=16), 16))


def unit_interval(*parts: Any) -> float:
    """A number in [0, 1) derived from the parts (for subsets and splits)."""
    return int(stable_hash(*parts, length=13), 16) / float(16**13)
