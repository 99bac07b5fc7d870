"""The `actionbench` command: a thin typer app; every command parses, calls the library, prints with rich.

Commands live in one module per area (probes, evaluation, leaderboard, demo); third-party packages add
sub-apps through the `actionbench.commands` entry-point group (the Paxion training commands do).
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer
from rich.console import Console
from rich.text import Text

from actionbench.errors import InputError, one_line

app = typer.Typer(
    name="actionbench",
    help="ActionBench: does your video-language model understand actions, or only objects?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Markup, emoji codes and highlighting are off: paths, ids and messages from data files are printed as they are
# (a probe id "[/x]" is text, not a rich tag). Styled output is built from `Text` (see `labelled`).
console = Console(soft_wrap=True, markup=False, emoji=False, highlight=False)  # long lines stay whole (for grep)
err_console = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)


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


def labelled(label: str, style: str, message: object) -> Text:
    """`label message` with only the label styled; the message is shown on one line, never read as markup."""
    return Text.assemble((label, style), " ", one_line(message))


def fail(message: object, code: int = 2) -> None:
    """A user mistake: one line on stderr, non-zero exit, no traceback."""
    err_console.print(labelled("error:", "bold red", message))
    raise typer.Exit(code)


def _register() -> None:
    from actionbench.cli import demo, downstream, evaluation, leaderboard, probes  # noqa: F401  (commands register on import)

    for ep in entry_points(group="actionbench.commands"):
        try:
            sub = ep.load()
        except Exception as e:  # a broken plugin must not break the core commands
            err_console.print(labelled("warning:", "yellow", f"command plugin {ep.name!r} not loaded ({e})"))
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
    except InputError as e:  # bad input: the message names the file, line and field
        err_console.print(labelled("error:", "bold red", e))
        sys.exit(2)
    except (ValueError, RuntimeError, OSError) as e:
        # Other library errors (a model, the device, the disk) carry a one-line message too.
        err_console.print(labelled("error:", "bold red", e))
        sys.exit(2)
