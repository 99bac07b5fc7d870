"""Files the harness writes and reads: atomic writes and folder swaps, and strict JSON / JSON-lines readers whose
errors name the file and line.

Readers are strict at the boundary: text must be UTF-8; a duplicate key in a JSON object, `NaN` / `Infinity`,
a number that overflows a float and an integer beyond 64 bits are refused (each as the caller's error type, a
subclass of `InputError`). Writers never follow a symlink and give new files the permissions the user's umask
allows (as `open` would), not the 0600 of a temporary file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from actionbench.errors import InputError, one_line

MAX_INT = 2**63  # larger integers are no count, index or size this project reads


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


def umask() -> int:
    """The process umask (read without changing it where the platform allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open()` would give a new file: 0666 less the umask."""
    return 0o666 & ~umask()


def folder_mode() -> int:
    """The mode `mkdir` would give a new folder: 0777 less the umask."""
    return 0o777 & ~umask()


def refuse_symlink(path: Path, error: type[Exception] = InputError) -> None:
    """A writer never writes through a symlink: it could point outside the output folder."""
    if path.is_symlink():
        raise error(f"{path}: is a symlink; refusing to write through it (remove it or choose another --out)")


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write to a temporary file beside `path`, fsync, rename, fsync the folder: readers (and a run resumed after
    a crash) see the whole file or none of it. The rename replaces a symlink at `path` (never writes through it);
    the file gets the umask's permissions."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def swapped_folder(folder: str | Path, error: type[Exception] = InputError) -> Iterator[Path]:
    """Write a folder's files into a temporary sibling, then swap it in with a rename.

    Yields the temporary folder; on a clean exit it replaces `folder` (an old folder is renamed aside, the new one
    renamed in, the old one removed), so a crash leaves either the old folder or the new one, never a mix. A
    symlink at `folder` is refused, not followed. On an exception the temporary folder is removed.
    """
    folder = Path(folder)
    refuse_symlink(folder, error)
    if folder.exists() and not folder.is_dir():
        raise error(f"{folder}: exists and is not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        os.chmod(tmp, folder_mode())
        yield tmp
        for child in tmp.iterdir():
            _fsync_file(child)
        _fsync_dir(tmp)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
            os.rename(folder, old / folder.name)
            os.rename(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, folder)
        _fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_file(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_new_file(path: Path, text: str) -> None:
    """Create `path` (a fresh file in a folder this process made) with the umask's permissions; never follows a
    symlink (O_EXCL)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


# ----------------------------------------------------------------------------------------- strict JSON


class _Refused(Exception):
    """Raised inside the JSON parser's hooks; turned into the caller's error with the file and line."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"duplicate key {key!r}")
        out[key] = value
    return out


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text[:20]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text) > 20:
        raise _Refused(f"number {text[:20]}... is out of range")
    value = int(text)
    if abs(value) >= MAX_INT:
        raise _Refused(f"number {text} is out of range")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number JSON allows")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=_float, parse_int=_int, parse_constant=_constant)


def loads(text: str, where: str, error: type[Exception] = InputError, *, lines: bool = False) -> Any:
    """Parse strict JSON; a problem raises `error("<where>: ...")`, or `error("<where>:<line>: ...")` with
    `lines` (for a whole file)."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as e:
        at = f":{e.lineno}:{e.colno}" if lines else f":{e.colno}"  # file:line:column, or record line:column
        raise error(f"{where}{at}: malformed JSON ({e.msg})") from None
    except _Refused as e:
        raise error(f"{where}: {e}") from None
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply") from None


def read_text(path: str | Path, error: type[Exception] = InputError) -> str:
    """A file's text; a missing, unreadable or non-UTF-8 file raises `error` naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a file") from None
    except OSError as e:
        raise error(f"{path}: cannot be read ({e.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte {e.start})") from None


def sha256_file(path: str | Path, length: int | None = None) -> str:
    """The SHA-256 of a file's bytes (hex; the first `length` digits when given), read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:length] if length else h.hexdigest()


def read_json(path: str | Path, error: type[Exception] = InputError) -> Any:
    """Parse a JSON file strictly (see the module doc); a missing, non-UTF-8 or malformed file raises
    `error("file[:line:column]: ...")`, one line."""
    if not Path(path).is_file():
        raise error(f"{one_line(path)}: missing")
    return loads(read_text(path, error), one_line(path), error, lines=True)


def read_jsonl(path: str | Path, error: type[Exception] = InputError) -> Iterator[tuple[int, Any]]:
    """(line number, record) for each non-blank line; a malformed line raises `error("file:line: ...")`."""
    path = Path(path)
    text = read_text(path, error)
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        yield lineno, loads(line, f"{one_line(path)}:{lineno}", error)


def finite_number(value: Any, where: str, error: type[Exception] = InputError, *, allow_none: bool = False,
                  bound: float = 1e12) -> float | None:
    """`value` as a float when it is a finite JSON number of sane size (|x| <= bound); else `error` naming `where`."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{where}: expected a number, got {describe(value)}")
    if not math.isfinite(value) or abs(value) > bound:
        raise error(f"{where}: {value!r} is not a finite number of sane size")
    return float(value)


def describe(value: Any) -> str:
    """A short, one-line rendering of a JSON value for an error message."""
    if isinstance(value, (dict, list)):
        return type(value).__name__
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def relative_path(value: str) -> PurePosixPath:
    """A path read from a data file, checked to stay under whatever root it is joined to: relative, no `..`, no
    empty name, no NUL or backslash. Raises InputError (without the file: the caller adds where it came from)."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"expected a relative path, got {describe(value)}")
    if "\x00" in value or "\\" in value or not value.isprintable():
        raise InputError(f"{describe(value)} is not a plain relative path")
    path = PurePosixPath(value)
    if path.is_absolute() or value.startswith("~"):
        raise InputError(f"{describe(value)} is absolute; paths in data files are relative to their root")
    if ".." in path.parts:
        raise InputError(f"{describe(value)} climbs out of its root ('..')")
    return path
