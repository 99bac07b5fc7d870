"""What every annotation reader returns, and how it reports bad input."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from actionbench.errors import InputError
from actionbench.files import read_json
from actionbench.ids import unit_interval
from actionbench.probes.schema import Clip

SPLITS = ("train", "val", "test", "all")


class AnnotationError(InputError):
    """A malformed annotation file or line; the message names the file and line (or index)."""


@dataclass
class ReadResult:
    """Clips read from annotations, plus every record that was not turned into a clip, counted by reason."""

    clips: list[Clip]
    skipped: Counter[str] = field(default_factory=Counter)
    total_records: int = 0


def ego4d_split(video_uid: str) -> str:
    """80/10/10 by a hash of the video uid, so windows of one video never straddle splits."""
    u = unit_interval("ego4d-split", video_uid)
    return "train" if u < 0.8 else "val" if u < 0.9 else "test"


def read_text(path: Path) -> str:
    """A text annotation file (UTF-8, a byte-order mark dropped); a missing or binary file is one line."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AnnotationError(f"{path}: a folder, not a file") from None
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not UTF-8 text") from None


def read_json_file(path: Path) -> object:
    """A JSON annotation file; missing, non-UTF-8 or malformed JSON is one line naming the file (and line)."""
    return read_json(path, AnnotationError)
