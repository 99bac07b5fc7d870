"""`actionbench demo`: the whole story offline on CPU, on the embedded mini benchmark."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from actionbench.cli import app, console, labelled


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("actionbench-demo"), help="working folder for data, probes, models and results"),
    seed: int = typer.Option(0, help="mini benchmark seed"),
    size: str = typer.Option("default", help="mini benchmark size: default | small | tiny"),
) -> None:
    """Generate the mini benchmark, build probes, evaluate and train what is installed, print the leaderboard."""
    from actionbench.demo import run_demo

    t0 = time.perf_counter()
    run_demo(out, seed=seed, size=size, console=console)
    console.print(labelled(f"demo finished in {time.perf_counter() - t0:.0f} s;", "bold", f"everything is under {out}"))
