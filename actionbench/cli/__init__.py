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


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from actionbench import PROTOCOL_VERSION, __version__

        try:
            installed = version("actionbench")
        except PackageNotFoundError:
            installed = __version__
        print(f"actionbench {installed} (protocol {PROTOCOL_VERSION}, Python {sys.version.split()[0]})")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="print the version and exit"),
) -> None:
    """ActionBench: does your video-language model understand actions, or only objects?"""


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


OPTIONAL_VALUES = {"--report": "-"}  # options whose value may be left out: `--report` alone means "-"


def _with_optional_values(argv: list[str]) -> list[str]:
    """`--report` given without a value (last, or before another option) becomes `--report=-`."""
    out = []
    for i, arg in enumerate(argv):
        following = argv[i + 1] if i + 1 < len(argv) else None
        if arg in OPTIONAL_VALUES and (following is None or following.startswith("-")):
            arg = f"{arg}={OPTIONAL_VALUES[arg]}"
        out.append(arg)
    return out


def main() -> None:
    _register()
    try:
        app(args=_with_optional_values(sys.argv[1:]), prog_name="actionbench")
    except (ValueError, RuntimeError, FileNotFoundError, OSError) as e:
        # Library errors for bad input carry a one-line message naming the file/line/id.
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
