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
from actionbench.tables import counts_table, print_table

lexicon_app = typer.Typer(help="Inspect and rebuild the project's lexicon.", no_args_is_help=True)
app.add_typer(lexicon_app, name="lexicon")


REPORT_ON_SCREEN = "-"  # `--report` without a file (see actionbench.cli.main: an option with an optional value)


class Dataset(str, Enum):
    ssv2 = "ssv2"
    ego4d = "ego4d"


REPORT_HELP = ("print a short audit summary; --report FILE (.md or .json) also writes the full audit there "
               "(probes per template / verb, every drop reason, surface differences)")
ALLOW_EMPTY_HELP = "write the probe set even when it has no probes (otherwise an error, exit 2)"


def _report(ps, name: str, report: str | None, reading=None, prior: dict | None = None) -> None:
    """The audit: a short summary on screen, the full audit into a file when one is named."""
    from actionbench.probes.report import audit, summary_lines, write_report

    if report is None:
        return
    a = audit(ps, reading, prior)
    for line in summary_lines(a, name):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if report != REPORT_ON_SCREEN:
        console.print(f"full audit written to {write_report(a, name, Path(report))}", highlight=False, soft_wrap=True)


def _check_report_path(report: str | None) -> None:
    from actionbench.probes.report import REPORT_FORMATS

    if report not in (None, REPORT_ON_SCREEN) and Path(report).suffix.lower() not in REPORT_FORMATS:
        fail(f"--report {report}: name a .md (Markdown) or .json file")


def _no_clips_message(annotations: Path, split: str, result) -> str:
    """Why a reader gave no clips, in one line."""
    if result.total_records == 0:
        return f"{annotations}: no annotation records (an empty file or list)"
    skipped = ", ".join(f"{reason} {n:,}" for reason, n in result.skipped.most_common())
    return f"{annotations}: {result.total_records:,} records read, 0 clips in split {split!r} ({skipped})"


@app.command("build-probes")
def build_probes_cmd(
    dataset: Dataset = typer.Option(..., help="ssv2 or ego4d"),
    annotations: Path = typer.Option(..., help="SSv2: folder with labels.json/train.json/validation.json (or one json); Ego4D: EgoClip-style .jsonl/.csv or narration.json"),
    out: Path = typer.Option(..., help="output probe-set folder"),
    split: str = typer.Option(None, help="SSv2: train|val|test (default val); Ego4D: train|val|test|all (default test)"),
    seed: int = typer.Option(0, help="seed for the random choices of object replacement"),
    alpha: float = typer.Option(4.9, help="Ego4D narration.json: EgoVLP window rule, half-width = beta / (2 alpha)"),
    report: str = typer.Option(None, "--report", metavar="[FILE]", help=REPORT_HELP),
    allow_empty: bool = typer.Option(False, "--allow-empty", help=ALLOW_EMPTY_HELP),
    workers: int = typer.Option(0, help="processes for building (0: one per CPU); the output does not depend on it"),
    aa_relations: str = typer.Option(None, "--aa-relations", help="keep only the Action Antonym probes (and their "
                                     "Video Reversal probes) whose foil contrasts so: comma-separated inverse, "
                                     "outcome, undo (a different probe set id)"),
    train: Path = typer.Option(None, "--train", help="with --report: a probe set or annotations of the train split; "
                               "the report prints the text-prior control's AA and OR accuracy trained on it"),
) -> None:
    """Build a versioned, audited ActionBench probe set from annotations."""
    from actionbench.lexicon import AA_RELATIONS
    from actionbench.probes.build import build_probes
    from actionbench.probes.report import Reading

    split = split or ("val" if dataset == Dataset.ssv2 else "test")
    if not annotations.exists():
        fail(f"{annotations}: no such file or folder")
    _check_report_path(report)
    if train is not None and report is None:
        fail("--train goes with --report")
    relations = None
    if aa_relations is not None:
        relations = [r.strip() for r in aa_relations.split(",") if r.strip()]
        bad = [r for r in relations if r not in AA_RELATIONS]
        if bad or not relations:
            fail(f"--aa-relations: unknown relation {bad[0] if bad else aa_relations!r} "
                 f"(choose from {', '.join(AA_RELATIONS)})")
    with console.status(f"Reading {dataset.value} annotations from {annotations} ..."):
        result, params = read_annotations(dataset.value, annotations, split, alpha)
    if not result.clips and not allow_empty:
        fail(_no_clips_message(annotations, split, result) + "; pass --allow-empty to write an empty probe set")
    source = annotations if annotations.is_file() else annotations / ("validation.json" if split in ("val", "validation") else f"{split}.json")
    params["annotations"] = source.name
    if source.is_file():
        params["annotations_sha256"] = sha256_file(source, 16)
    workers = workers or os.cpu_count() or 1
    with console.status(f"Building probes for {len(result.clips):,} clips ({workers} processes) ..."):
        ps = build_probes(result.clips, dataset=dataset.value, split=split, seed=seed, parameters=params,
                          skipped=result.skipped, workers=workers, aa_relations=relations)
    if not ps.probes and not allow_empty:
        fail(f"{annotations}: {len(result.clips):,} clips in split {split!r} but not one probe could be made of them "
             "(see --report); pass --allow-empty to write an empty probe set")
    ps.save(out)
    name = f"{dataset.value} {split} ({ps.probeset_id})"
    print_table(console, counts_table([(name, ps.manifest.counts)]))
    console.print(f"{result.total_records:,} records read, {len(result.clips):,} clips, "
                  f"{ps.manifest.counts.get('clips', 0):,} with probes; probe set written to {out}", highlight=False)
    _report(ps, name, report, Reading(result.total_records, len(result.clips)), _prior(ps, train, dataset.value, alpha))


def _prior(ps, train: Path | None, dataset: str, alpha: float) -> dict | None:
    """With a train split, the text-prior control's accuracy on this probe set (for the report)."""
    if train is None:
        return None
    from actionbench.models.text_prior import TextPriorError, load_train_texts, probe_accuracy

    try:
        texts = load_train_texts(train, dataset=dataset, alpha=alpha)
    except TextPriorError as e:
        fail(str(e))
    return probe_accuracy(ps, texts)


@app.command("import-released")
def import_released_cmd(
    dataset: Dataset = typer.Option(...),
    annotations: Path = typer.Option(..., help="the released ActionBench file (SSv2 validation.json or Ego4D .jsonl)"),
    out: Path = typer.Option(...),
    split: str = typer.Option(None, help="the split this file is (SSv2: val; Ego4D: test)"),
    report: str = typer.Option(None, "--report", metavar="[FILE]", help=REPORT_HELP),
    allow_empty: bool = typer.Option(False, "--allow-empty", help=ALLOW_EMPTY_HELP),
) -> None:
    """Import the originally released ActionBench probes exactly as released (the paper's own split)."""
    from actionbench.datasets.released import import_released

    split = split or ("val" if dataset == Dataset.ssv2 else "test")
    _check_report_path(report)
    ps = import_released(annotations, dataset.value, split)
    if not ps.probes and not allow_empty:
        fail(f"{annotations}: no probes in the file; pass --allow-empty to write an empty probe set")
    ps.save(out)
    name = f"released {dataset.value} {split} ({ps.probeset_id})"
    print_table(console, counts_table([(name, ps.manifest.counts)]))
    _report(ps, name, report)


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
    probes: list[Path] = typer.Option(..., help="probe-set or downstream-set folder(s)"),
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
            print_table(console, t)
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
