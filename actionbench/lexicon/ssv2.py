"""The SSv2 antonym table: for each of the 174 official templates, the template of the opposite action.

The table (`data/ssv2_antonyms.tsv`) is written in the bracketed form of the annotation files, and every
antonym has exactly the slot sequence of its template, so a clip's own placeholders refill it. `closed`
means the unbracketed antonym is itself an SSv2 template (the foil is a real caption elsewhere in the data),
`open` that it is not, `none` that the action has no good antonym (the reason says why).

    python -m actionbench.lexicon.ssv2    # the table as Markdown, with the counts
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from actionbench.errors import InputError
from actionbench.lexicon import AA_RELATIONS, DATA_DIR

TABLE_PATH = DATA_DIR / "ssv2_antonyms.tsv"
COLUMNS = ("template", "antonym", "kind", "relation", "reason")
LEGACY_COLUMNS = ("template", "antonym", "kind", "reason")  # read with relation "inverse"
KINDS = ("closed", "open", "none")

_SLOT = re.compile(r"\[([^\[\]]+)\]")


class LexiconError(InputError):
    """A malformed lexicon file; the message names the file and line."""


def slots(template: str) -> list[str]:
    """The bracket names of a template, in order, lower-cased: `[Something] falling like a rock` -> ['something']."""
    return [m.group(1).lower() for m in _SLOT.finditer(template)]


def unbracket(template: str) -> str:
    """The labels.json form of a bracketed template (the brackets removed, nothing else)."""
    return _SLOT.sub(lambda m: m.group(1), template)


@dataclass(frozen=True)
class TemplateAntonym:
    """One row of the table: a bracketed template and its antonym template (None when there is none)."""

    template: str
    antonym: str | None
    kind: str  # closed | open | none
    reason: str
    relation: str | None = None  # inverse | outcome | undo (see actionbench.lexicon.AA_RELATIONS); None for none

    @property
    def closed(self) -> bool:
        """The antonym is itself one of the official templates."""
        return self.kind == "closed"


@dataclass(frozen=True)
class SSv2Table:
    """The rows, looked up by bracketed template or by its unbracketed labels.json key."""

    rows: tuple[TemplateAntonym, ...]
    _index: dict[str, TemplateAntonym] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, TemplateAntonym] = {}
        for row in self.rows:
            index[row.template] = row
            index[unbracket(row.template)] = row
        object.__setattr__(self, "_index", index)

    def get(self, template: str) -> TemplateAntonym | None:
        """The row of a template, written bracketed (`Opening [something]`) or not (`Opening something`)."""
        return self._index.get(template)

    def __contains__(self, template: object) -> bool:
        return isinstance(template, str) and template in self._index

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[TemplateAntonym]:
        return iter(self.rows)

    def antonym_counts(self) -> Counter[str]:
        """How many rows are closed, open and none."""
        counts = Counter({kind: 0 for kind in KINDS})
        counts.update(row.kind for row in self.rows)
        return counts

    def markdown(self) -> str:
        """The table as Markdown (template | antonym | kind | reason), then the counts."""
        lines = ["| template | antonym | kind | relation | reason |", "|---|---|---|---|---|"]
        for row in self.rows:
            cells = (row.template, row.antonym or "none", row.kind, row.relation or "", row.reason)
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        counts = self.antonym_counts()
        lines.append("")
        lines.append(
            f"{len(self)} templates: {counts['closed']} closed, {counts['open']} open, {counts['none']} none"
        )
        return "\n".join(lines)


def load_ssv2_table(path: Path | None = None) -> SSv2Table:
    """Read and validate the antonym table; a bad row raises LexiconError naming `file:line`."""
    path = Path(path) if path is not None else TABLE_PATH
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    header = tuple(lines[0].split("\t")) if lines else ()
    if header not in (COLUMNS, LEGACY_COLUMNS):
        raise LexiconError(f"{path}:1: header must be {' <tab> '.join(COLUMNS)}")

    rows: list[tuple[int, TemplateAntonym]] = []
    first_line: dict[str, int] = {}  # unbracketed template -> line, to name both lines of a duplicate
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        cells = line.split("\t")
        if len(cells) != len(header):
            raise LexiconError(f"{where}: expected {len(header)} tab-separated columns, found {len(cells)}")
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        template, antonym, kind, reason = row["template"], row["antonym"], row["kind"], row["reason"]
        relation = row.get("relation", "inverse" if kind != "none" else "")
        _check_brackets(template, "template", where)
        if kind not in KINDS:
            raise LexiconError(f"{where}: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        if kind == "none":
            if antonym:
                raise LexiconError(f"{where}: kind none but an antonym {antonym!r} is given")
            if not reason:
                raise LexiconError(f"{where}: kind none needs a reason")
            if relation:
                raise LexiconError(f"{where}: kind none but a relation {relation!r} is given")
        else:
            if relation not in AA_RELATIONS:
                raise LexiconError(f"{where}: relation {relation!r} must be one of {', '.join(AA_RELATIONS)}")
            if not antonym:
                raise LexiconError(f"{where}: kind {kind} needs an antonym")
            _check_brackets(antonym, "antonym", where)
            if slots(antonym) != slots(template):
                raise LexiconError(
                    f"{where}: antonym slots {slots(antonym)} differ from template slots {slots(template)}"
                )
            if unbracket(antonym) == unbracket(template):
                raise LexiconError(f"{where}: antonym is the template itself")
        key = unbracket(template)
        if key in first_line:
            raise LexiconError(f"{where}: duplicate template {template!r} (first on line {first_line[key]})")
        first_line[key] = lineno
        rows.append((lineno, TemplateAntonym(template, antonym or None, kind, reason, relation or None)))

    # Closedness is a fact about the table itself, so it is checked once every template is known.
    for lineno, row in rows:
        if row.antonym is None:
            continue
        is_closed = unbracket(row.antonym) in first_line
        if is_closed != row.closed:
            actual = "is" if is_closed else "is not"
            raise LexiconError(
                f"{path}:{lineno}: marked {row.kind} but the antonym {row.antonym!r} {actual} a template of the table"
            )
    return SSv2Table(tuple(row for _, row in rows))


def _check_brackets(template: str, column: str, where: str) -> None:
    if not template:
        raise LexiconError(f"{where}: empty {column}")
    if "[" in _SLOT.sub("", template) or "]" in _SLOT.sub("", template):
        raise LexiconError(f"{where}: unbalanced brackets in {column} {template!r}")


def main() -> None:
    print(load_ssv2_table().markdown())


if __name__ == "__main__":
    main()
