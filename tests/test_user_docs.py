"""User documents stand alone (a clone has nothing beside it) and the README's quick start works on any machine."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
USER_DOCS = sorted(p for p in REPO.rglob("*.md") if ".git" not in p.parts and "actionbench-demo" not in p.parts)


def test_user_documents_point_at_nothing_outside_the_repository() -> None:
    assert {p.relative_to(REPO).as_posix() for p in USER_DOCS} >= {"README.md", "submissions/README.md"}
    for doc in USER_DOCS:
        text = doc.read_text(encoding="utf-8")
        assert not re.search(r"\.\./shared|/work/|(?<![\w.])shared/[A-Z]+\.md", text), doc
        for target in re.findall(r"\]\((?!https?://|#)([^)#\s]+)", text):  # relative links resolve in the clone
            assert (doc.parent / target).exists(), (doc, target)


def test_the_quick_start_makes_a_venv_and_offers_the_cpu_wheels() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start"):readme.index("What the demo printed")]
    assert "python3 -m venv .venv" in quick and "source .venv/bin/activate" in quick
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in quick
    assert "leaderboard.html" in quick and "leaderboard.md" in quick
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q . && actionbench demo" in ci and "download.pytorch.org" not in ci  # CI cannot reach it
