"""The embedding cache: model outputs on disk, committed batch by batch, so a killed run loses nothing done.

A cache *namespace* is one folder named by the hash of everything that can change an embedding except the
item itself: the model fingerprint (name, args, weights hash, code version), frame spec, decoder,
preprocessing, dtype / AMP / device class and protocol version. Inside it each committed batch is one
safetensors file (`batches/<kind>-r<rank>-<n>-<uuid>.safetensors`) whose metadata lists the item keys of its
rows; item keys carry the rest (video identity = path, size, mtime; time window; reversed flag; or the text).
A batch file is written to a temporary name, fsynced and renamed, so it is either complete or absent; the
folder listing is the index. Processes of a sharded run write their own files into one namespace.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import torch

from actionbench.errors import InputError, one_line
from actionbench.files import atomic_write, loads, read_json
from actionbench.ids import canonical_json, stable_hash

KINDS = ("video", "text", "pair")


def default_cache_dir() -> Path:
    """`$ACTIONBENCH_CACHE`, else `$XDG_CACHE_HOME/actionbench/embeddings` (`~/.cache/...`)."""
    if os.environ.get("ACTIONBENCH_CACHE"):
        return Path(os.environ["ACTIONBENCH_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "actionbench" / "embeddings"


class EmbeddingCache:
    """Committed model outputs of one namespace; `root=None` keeps nothing on disk."""

    def __init__(self, root: str | Path | None, namespace: dict[str, Any], rank: int = 0,
                 texts: EmbeddingCache | None = None) -> None:
        self.namespace = namespace
        # Text embeddings kept in another namespace: a control's texts are its wrapped model's (`text_model`), so
        # the control and the model share them. Text rows are read from and committed to it.
        self.texts = texts
        self.key = stable_hash(namespace, length=24)
        self.rank = rank
        self.dir = None if root is None else Path(root) / self.key
        self._entries: dict[str, torch.Tensor] = {}
        self._extra: dict[str, Any] = {}
        self._text_keys: set[str] = set()  # the keys of text rows (what another namespace may borrow)
        self._serial = 0
        self.hits = 0  # entries served from the cache (so a run can say how many it did not compute)
        self.ignored: list[str] = []  # unreadable batch files, with the reason (left in place, not trusted)
        if self.dir is not None:
            (self.dir / "batches").mkdir(parents=True, exist_ok=True)
            described = self.dir / "namespace.json"
            if not described.is_file():  # for people reading the cache folder; the hash is the key
                atomic_write(described, (json.dumps(namespace, indent=2, sort_keys=True) + "\n").encode())
            self._load()

    # ------------------------------------------------------------------------------------------ reading

    def batch_files(self, kind: str | None = None) -> list[Path]:
        """Committed batch files (of one kind), in name order."""
        if self.dir is None:
            return []
        pattern = f"{kind}-*.safetensors" if kind else "*.safetensors"
        return sorted((self.dir / "batches").glob(pattern))

    def _load(self) -> None:
        from safetensors import safe_open

        for path in self.batch_files():
            try:
                with safe_open(str(path), framework="pt") as f:
                    meta = f.metadata() or {}
                    rows = f.get_tensor("rows")
                keys = loads(meta["keys"], "keys")
                extra = loads(meta.get("extra", "null"), "extra")
                if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                    raise ValueError("keys are not a list of texts")
                if rows.ndim < 1 or len(keys) != rows.shape[0]:
                    raise ValueError(f"{len(keys)} keys for {tuple(rows.shape)} rows")
                if extra is not None and (not isinstance(extra, list) or len(extra) != len(keys)):
                    raise ValueError("extra does not hold one note per row")
                finite = torch.isfinite(rows.reshape(rows.shape[0], -1)).all(dim=1) if rows.is_floating_point() \
                    else torch.ones(rows.shape[0], dtype=torch.bool)
            except Exception as e:  # a damaged file is recomputed, never trusted
                self.ignored.append(f"{path.name}: {type(e).__name__}: {one_line(e)}")
                continue
            if not bool(finite.all()):
                # A model that gives NaN is caught when it runs; a NaN on disk is damage to the cache: those rows
                # are dropped here and recomputed, never blamed on the model.
                self.ignored.append(f"{path.name}: {int((~finite).sum())} rows with non-finite values (recomputed)")
            for i, key in enumerate(keys):
                if not finite[i]:
                    continue
                if path.name.startswith("text-"):
                    self._text_keys.add(key)
                self._entries[key] = rows[i]
                if extra is not None:
                    self._extra[key] = extra[i]

    def _borrowed(self, key: str) -> bool:
        """A text row kept in the text namespace (only its text rows are read: its videos are another model's)."""
        return self.texts is not None and key not in self._entries and key in self.texts._text_keys

    def __contains__(self, key: str) -> bool:
        return key in self._entries or self._borrowed(key)

    def __len__(self) -> int:
        return len(self._entries) + (0 if self.texts is None else len(self.texts._text_keys - set(self._entries)))

    def get(self, key: str) -> torch.Tensor:
        if self._borrowed(key):
            return self.texts.get(key)
        self.hits += 1
        return self._entries[key]

    def extra(self, key: str) -> Any:
        """The per-row note stored with an entry (e.g. the decoder that produced a video embedding)."""
        if self._borrowed(key):
            return self.texts.extra(key)
        return self._extra.get(key)

    def items(self) -> dict[str, torch.Tensor]:
        borrowed = {} if self.texts is None else {k: self.texts._entries[k] for k in self.texts._text_keys}
        return {**borrowed, **self._entries}

    # ------------------------------------------------------------------------------------------ writing

    def commit(self, kind: str, keys: list[str], rows: torch.Tensor, extra: list[Any] | None = None) -> None:
        """Keep one batch of rows (and, with a folder, make it durable before returning)."""
        from safetensors.torch import save

        if kind not in KINDS:
            raise ValueError(f"unknown cache kind {kind!r}")
        if kind == "text" and self.texts is not None:
            self.texts.commit(kind, keys, rows, extra)
            return
        if len(keys) != rows.shape[0]:
            raise ValueError(f"{len(keys)} keys for {rows.shape[0]} rows")
        rows = rows.detach().to("cpu", torch.float32).contiguous()
        if kind == "text":
            self._text_keys.update(keys)
        for i, key in enumerate(keys):
            self._entries[key] = rows[i]
            if extra is not None:
                self._extra[key] = extra[i]
        if self.dir is None:
            return
        meta = {"keys": canonical_json(keys), "extra": canonical_json(extra)}
        self._serial += 1
        name = f"{kind}-r{self.rank:03d}-{self._serial:06d}-{uuid.uuid4().hex[:8]}.safetensors"
        atomic_write(self.dir / "batches" / name, save({"rows": rows}, metadata=meta))

    def read_note(self, name: str) -> Any:
        """A small JSON note kept in the namespace (e.g. the order-invariance check), or None."""
        if self.dir is None or not (self.dir / f"{name}.json").is_file():
            return None
        try:
            return read_json(self.dir / f"{name}.json")
        except InputError:  # a damaged note is as good as none: what it records is checked again
            return None

    def write_note(self, name: str, value: Any) -> None:
        if self.dir is not None:
            atomic_write(self.dir / f"{name}.json", (json.dumps(value, sort_keys=True) + "\n").encode())
