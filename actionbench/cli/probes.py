"""CLI commands for data: build-probes, import-released, mini-data, doctor, preprocess, lexicon."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

import typer
from rich.table import Table

from actionbench.cli import app, console, fail, labelled
from actionbench.datasets.read import read_annotations
from actionbench.files import sha256_file
from actionbench.tables import counts_table

lexicon_app = typer.Typer(help="Inspect and rebuild the project's lexicon.", no_args_is_help=True)
app.add_typer(lexicon_app, name="lexicon")


class Dataset(str, Enum):
    ssv2 = "ssv2"
    ego4d = "ego4d"


@app.command("build-probes")
def build_probes_cmd(
    dataset: Dataset = typer.Option(..., help="ssv2 or ego4d"),
    annotations: Path = typer.Option(..., help="SSv2: folder with labels.json/train.json/validation.json (or one json); Ego4D: EgoClip-style .jsonl/.csv or narration.json"),
    out: Path = typer.Option(..., help="output probe-set folder"),
    split: str = typer.Option(None, help="SSv2: train|val|test (default val); Ego4D: train|val|test|all (default test)"),
    seed: int = typer.Option(0, help="seed for the random choices of object replacement"),
    alpha: float = typer.Option(4.9, help="Ego4D narration.json: EgoVLP window rule, half-width = beta / (2 alpha)"),
    report: bool = typer.Option(False, "--report", help="print the audit"),
    workers: int = typer.Option(0, help="processes for building (0: one per CPU); the output does not depend on it"),
) -> None:
    """Build a versioned, audited ActionBench probe set from annotations."""
    from actionbench.probes.build import build_probes

    split = split or ("val" if dataset == Dataset.ssv2 else "test")
    if not annotations.exists():
        fail(f"{annotations}: not found")
    with console.status(f"Reading {dataset.value} annotations from {annotations} ..."):
        result, params = read_annotations(dataset.value, annotations, split, alpha)
    source = annotations if annotations.is_file() else annotations / ("validation.json" if split in ("val", "validation") else f"{split}.json")
    params["annotations"] = source.name
    if source.is_file():
        params["annotations_sha256"] = sha256_file(source, 16)
    workers = workers or os.cpu_count() or 1
    with console.status(f"Building probes for {len(result.clips):,} clips ({workers} processes) ..."):
        ps = build_probes(result.clips, dataset=dataset.value, split=split, seed=seed, parameters=params,
                          skipped=result.skipped, workers=workers)
    ps.save(out)
    console.print(counts_table([(f"{dataset.value} {split} ({ps.probeset_id})", ps.manifest.counts)]))
    console.print(f"{result.total_records} records read, {len(result.clips)} clips; probe set written to {out}")
    if report:
        from actionbench.probes.report import audit, render

        for r in render(audit(ps)):
            console.print(r)


@app.command("import-released")
def import_released_cmd(
    dataset: Dataset = typer.Option(...),
    annotations: Path = typer.Option(..., help="the released ActionBench file (SSv2 validation.json or Ego4D .jsonl)"),
    out: Path = typer.Option(...),
    split: str = typer.Option(None, help="the split this file is (SSv2: val; Ego4D: test)"),
    report: bool = typer.Option(False, "--report"),
) -> None:
    """Import the originally released ActionBench probes exactly as released (the paper's own split)."""
    from actionbench.datasets.released import import_released

    split = split or ("val" if dataset == Dataset.ssv2 else "test")
    ps = import_released(annotations, dataset.value, split)
    ps.save(out)
    console.print(counts_table([(f"released {dataset.value} {split} ({ps.probeset_id})", ps.manifest.counts)]))
    if report:
        from actionbench.probes.report import audit, render

        for r in render(audit(ps)):
            console.print(r)


@app.command("mini-data")
def mini_data_cmd(
    out: Path = typer.Option(..., help="output folder"),
    seed: int = typer.Option(0),
    size: str = typer.Option("default", help="default | small | tiny"),
) -> None:
    """Generate the embedded mini benchmark (SSv2- and Ego4D-format annotations + synthetic videos)."""
    from actionbench.datasets.mini import generate_mini

    with console.status("Generating the mini benchmark ..."):
        info = generate_mini(out, seed=seed, size=size)
    console.print(f"mini benchmark written to {out} ({info})")


@app.command("doctor")
def doctor_cmd(
    probes: list[Path] = typer.Option(..., help="probe-set folder(s)"),
    videos: list[Path] = typer.Option(..., help="videos root(s), one per probe set (or one for all)"),
    workers: int = typer.Option(2),
) -> None:
    """Check that every referenced video exists and decodes; list the bad ones."""
    from actionbench.doctor import check_videos

    if len(videos) not in (1, len(probes)):
        fail("give one --videos root, or one per --probes folder")
    bad_total = 0
    for i, folder in enumerate(probes):
        root = videos[0] if len(videos) == 1 else videos[i]
        report = check_videos(folder, root, workers=workers, progress=console)
        bad_total += len(report.bad)
        if report.bad:
            t = Table(title=f"{folder}: {len(report.bad)} of {report.checked} videos unusable")
            t.add_column("clip")
            t.add_column("video")
            t.add_column("error")
            for b in report.bad:
                t.add_row(b.clip_id, b.video, b.error)
            console.print(t)
        else:
            console.print(f"{folder}: all {report.checked} videos decode ({report.decoder})")
    if bad_total:
        raise typer.Exit(1)


@app.command("preprocess")
def preprocess_cmd(
    videos: Path = typer.Option(..., help="folder of source videos"),
    out: Path = typer.Option(..., help="output folder (same relative paths, .mp4)"),
    fps: float = typer.Option(5.0),
    size: int = typer.Option(224),
    workers: int = typer.Option(2),
) -> None:
    """Re-encode a dataset the ActionBench way (5 fps, 224x224 squashed, H.264)."""
    from actionbench.preprocess import preprocess_folder

    done, failed = preprocess_folder(videos, out, fps=fps, size=size, workers=workers, console=console)
    console.print(f"{done} videos written to {out}")
    for path, err in failed:
        console.print(labelled("failed", "red", f"{path}: {err}"))
    if failed:
        raise typer.Exit(1)


@lexicon_app.command("build-objects")
def build_objects_cmd(
    out: Path = typer.Option(..., help="output objects.tsv"),
    ssv2: list[Path] = typer.Option([], help="SSv2 train/validation json files"),
    ego4d: list[Path] = typer.Option([], help="EgoClip-style jsonl/csv files"),
    min_count: int = typer.Option(5),
) -> None:
    """Rebuild the typed object vocabulary from annotations (the shipped one is frozen and versioned)."""
    from actionbench.datasets.vocabulary import build_vocabulary
    from actionbench.lexicon.objects import write_vocabulary

    entries = build_vocabulary(list(ssv2), list(ego4d), min_count)
    write_vocabulary(entries, out)
    console.print(f"{len(entries)} objects written to {out}")


@lexicon_app.command("show")
def lexicon_show_cmd() -> None:
    """Print the lexicon version and its sizes."""
    from actionbench.lexicon import Lexicon

    lex = Lexicon.load()
    console.print(f"lexicon {lex.version}: {len(lex.ssv2)} SSv2 templates")
