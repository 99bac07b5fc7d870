"""Near-synonym and is-a groups of object nouns (`data/object_groups.tsv`), so Object Replacement never swaps
an object for another name of it ("mobile phone" -> "cellphone") or for a broader or narrower term ("cup" ->
"container", "spoon" -> "teaspoon"): such a foil may still describe the video, and the probe has no right answer.

Each row is `kind <TAB> name <TAB> members` (comma-separated). `synonym`: the members name one thing. `isa`: each
member is a kind of `name`; a member may name another isa row, so the relation is transitive, and a term shares
the broader and narrower terms of its synonyms. A term matches an object phrase when it is the whole phrase or
its last words, compared singular and lower case ("kitchen knives" matches "knife").
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from actionbench.lexicon import DATA_DIR
from actionbench.lexicon.nouns import singular

GROUPS_FILE = DATA_DIR / "object_groups.tsv"
HEADER = ("kind", "name", "members")
KINDS = ("synonym", "isa")
_TERM = re.compile(r"[a-z0-9]+(?:['’\-][a-z0-9]+)*(?: [a-z0-9]+(?:['’\-][a-z0-9]+)*)*")


class GroupsError(ValueError):
    """A malformed groups file; the message names the file and line."""


def normalize_term(phrase: str) -> str:
    """Lower case, single spaces, last word singular: "Kitchen  Knives" -> "kitchen knife"."""
    words = phrase.lower().split()
    if not words:
        return ""
    return " ".join([*words[:-1], singular(words[-1])])


@dataclass(frozen=True)
class Group:
    kind: str  # synonym | isa
    name: str
    members: tuple[str, ...]
    line: int

    @property
    def label(self) -> str:
        """How reports name the group: "synonym:phone", "isa:container"."""
        return f"{self.kind}:{self.name}"


@dataclass
class ObjectGroups:
    """The groups, with the relation between any two object phrases."""

    groups: tuple[Group, ...] = ()
    source: str = "<memory>"
    _nodes: dict[str, set[str]] = field(default_factory=dict, repr=False)  # term -> its nodes
    _up: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set), repr=False)
    _down: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set), repr=False)
    _label: dict[str, str] = field(default_factory=dict, repr=False)  # node -> the group label that made it

    def __post_init__(self) -> None:
        # A node is a synonym group ("syn:phone") or a lone term ("t:spoon"); isa rows link nodes.
        for g in self.groups:
            if g.kind == "synonym":
                for m in g.members:
                    self._nodes.setdefault(m, {f"t:{m}"}).add(f"syn:{g.name}")
                self._label[f"syn:{g.name}"] = g.label
        for g in self.groups:
            if g.kind != "isa":
                continue
            parents = self._term_nodes(g.name)
            self._label.setdefault(f"t:{g.name}", g.label)
            for m in g.members:
                for p in parents:
                    for c in self._term_nodes(m):
                        if p != c:
                            self._down[p].add(c)
                            self._up[c].add(p)

    def _term_nodes(self, term: str) -> set[str]:
        return self._nodes.setdefault(term, {f"t:{term}"})

    def __len__(self) -> int:
        return len(self.groups)

    def terms_of(self, phrase: str) -> list[str]:
        """The known terms an object phrase matches: itself and its last words ("plastic cup" -> "cup")."""
        words = normalize_term(phrase).split()
        return [t for i in range(len(words)) if (t := " ".join(words[i:])) in self._nodes]

    def ident(self, phrase: str) -> frozenset[str]:
        """The nodes a phrase is (its own term and its synonym groups); empty when the phrase is not a term."""
        return _relations(self, phrase)[0]

    def broader(self, phrase: str) -> frozenset[str]:
        """Every broader node: above its own term, or, for a phrase that is not a term ("plastic cup"), its
        longest known last words ("cup") and what is above them (the phrase is a kind of them)."""
        return _relations(self, phrase)[1]

    def narrower(self, phrase: str) -> frozenset[str]:
        return _relations(self, phrase)[2]

    def related(self, a: str, b: str) -> bool:
        """Whether a and b are synonyms, or one is a broader or narrower term of the other."""
        return bool(blocked_nouns(self, [b], [a]))

    def labels(self, phrase: str) -> list[str]:
        """The groups that a phrase falls in (as "synonym:phone", "isa:container"), for reports."""
        return sorted({self._label[n] for n in self.ident(phrase) | self.broader(phrase) if n in self._label})

    def _closure(self, node: str, edges: dict[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        todo = [node]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def __hash__(self) -> int:  # one instance per file: identity is enough for the caches
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


@cache
def _relations(groups: ObjectGroups, phrase: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(ident, broader, narrower) nodes of a phrase."""
    terms = groups.terms_of(phrase)
    if not terms:
        return frozenset(), frozenset(), frozenset()
    nodes = groups._nodes[terms[0]]
    up: set[str] = set()
    down: set[str] = set()
    for n in nodes:
        up |= groups._closure(n, groups._up)
        down |= groups._closure(n, groups._down)
    exact = terms[0] == normalize_term(phrase)
    # A term of several words is a kind of its known last words too ("thermos flask" is a flask)
    head = terms[1] if exact and len(terms) > 1 else (terms[0] if not exact else None)
    above: set[str] = set()
    if head is not None:
        above = set(groups._nodes[head])
        for n in groups._nodes[head]:
            above |= groups._closure(n, groups._up)
    if exact:
        return frozenset(nodes), frozenset((up | above) - nodes), frozenset(down - nodes)
    return frozenset(), frozenset(above), frozenset()


def read_groups(path: Path) -> list[Group]:
    """Read and validate a groups file; a bad line raises GroupsError naming `path:line`."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise GroupsError(f"{path}: cannot read object groups ({e.strerror})") from None
    groups: list[Group] = []
    seen: dict[tuple[str, str], int] = {}
    header = False
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split("\t")]
        if not header:
            if tuple(cells) != HEADER:
                raise GroupsError(f"{path}:{lineno}: expected the header {chr(9).join(HEADER)!r}, got {line!r}")
            header = True
            continue
        if len(cells) != len(HEADER):
            raise GroupsError(f"{path}:{lineno}: expected 3 tab-separated columns (kind, name, members), got {len(cells)}")
        kind, name, members = cells
        if kind not in KINDS:
            raise GroupsError(f"{path}:{lineno}: unknown kind {kind!r} (expected synonym or isa)")
        terms = [normalize_term(m) for m in members.split(",") if m.strip()]
        for t in [name, *terms]:
            if not _TERM.fullmatch(t):
                raise GroupsError(f"{path}:{lineno}: term {t!r} must be lower-case words separated by single spaces")
        name = normalize_term(name)
        if not terms:
            raise GroupsError(f"{path}:{lineno}: group {name!r} has no members")
        if (kind, name) in seen:
            raise GroupsError(f"{path}:{lineno}: duplicate {kind} group {name!r} (first on line {seen[(kind, name)]})")
        if kind == "isa" and name in terms:
            raise GroupsError(f"{path}:{lineno}: {name!r} cannot be a kind of itself")
        seen[(kind, name)] = lineno
        groups.append(Group(kind, name, tuple(dict.fromkeys(terms)), lineno))
    if not header:
        raise GroupsError(f"{path}: empty object groups file (no header line)")
    return groups


def load_object_groups(path: str | Path | None = None) -> ObjectGroups:
    """The shipped groups, or those at `path`."""
    if path is None:
        return _shipped()
    return ObjectGroups(tuple(read_groups(Path(path))), source=str(path))


@cache
def _shipped() -> ObjectGroups:
    return ObjectGroups(tuple(read_groups(GROUPS_FILE)), source=str(GROUPS_FILE))


def blocked_nouns(groups: ObjectGroups, phrases: Iterable[str], nouns: Iterable[str]) -> set[str]:
    """The nouns that are synonyms, broader or narrower terms of any of the phrases."""
    own: set[str] = set()  # what the phrases are
    near: set[str] = set()  # what they are, and everything above and below them
    for p in phrases:
        i, b, d = _relations(groups, p)
        own |= i
        near |= i | b | d
    if not near:
        return set()
    return {n for n in nouns if (groups.ident(n) & near) or (groups.broader(n) & own)}
