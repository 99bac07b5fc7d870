"""CLI commands: evaluation."""

from __future__ import annotations

from actionbench.cli import app, console, fail  # noqa: F401
