"""The `actionbench` command: a thin typer app; every command parses, calls the library, prints with rich.

Commands live in one module per area (probes, evaluation, leaderboard, demo); third-party packages add
sub-apps through the `actionbench.commands` entry-point group (the Paxion training commands do).
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer
from rich.console import Console

app = typer.Typer(
    name="actionbench",
    help="ActionBench: does your video-language model understand actions, or only objects?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)  # long paths and ids stay on one line (scripts grep them)
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """A user mistake: one line on stderr, non-zero exit, no traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _register() -> None:
    from actionbench.cli import demo, downstream, evaluation, leaderboard, probes  # noqa: F401  (commands register on import)

    for ep in entry_points(group="actionbench.commands"):
        try:
            sub = ep.load()
        except Exception as e:  # a broken plugin must not break the core commands
            err_console.print(f"[yellow]warning:[/] command plugin {ep.name!r} not loaded ({e})")
            continue
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=ep.name)
        else:  # a plain function becomes one command
            app.command(name=ep.name)(sub)


def main() -> None:
    _register()
    try:
        app()
    except (ValueError, RuntimeError, FileNotFoundError, OSError) as e:
        # Library errors for bad input carry a one-line message naming the file/line/id.
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
