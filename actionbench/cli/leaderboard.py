"""CLI commands: leaderboard."""

from __future__ import annotations

from actionbench.cli import app, console, fail  # noqa: F401
