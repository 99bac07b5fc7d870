"""Files the harness writes and reads: atomic writes, file digests, and JSON / JSON-lines with errors that name
the file and line."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems do not fsync directories; the rename is still atomic
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write to a temporary file beside `path`, fsync, rename, fsync the folder: readers (and a run resumed after
    a crash) see the whole file or none of it."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def sha256_file(path: str | Path, length: int | None = None) -> str:
    """The SHA-256 of a file's bytes (hex; the first `length` digits when given), read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:length] if length else h.hexdigest()


def malformed_json(path: str | Path, e: json.JSONDecodeError, lineno: int | None = None) -> str:
    """'file:line:column: malformed JSON (reason)' for a parse error (`lineno`: the line of a JSON Lines record)."""
    return f"{path}:{lineno if lineno is not None else e.lineno}:{e.colno}: malformed JSON ({e.msg})"


def read_json(path: str | Path, error: type[Exception] = ValueError) -> Any:
    """Parse a JSON file; a missing, non-UTF-8 or malformed file raises `error("file[:line:column]: ...")`, one line."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise error(malformed_json(path, e)) from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None


def read_jsonl(path: str | Path, error: type[Exception] = ValueError) -> Iterator[tuple[int, Any]]:
    """(line number, record) for each non-blank line; a malformed line raises `error("file:line: ...")`."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise error(malformed_json(path, e, lineno)) from None
