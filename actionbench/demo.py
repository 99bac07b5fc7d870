"""The demo pipeline: mini data -> probes -> evaluation -> (Paxion training) -> leaderboard files.

Stages that need optional parts run only when those are installed: the Paxion training stages come from the
`actionbench.demo` entry-point group (installed with `paxion_models`); actionbench never imports paxion_models.

Every stage reports progress (a live bar in a terminal, plain periodic lines in a log) and its time; the demo
ends by writing `leaderboard.md` and `leaderboard.html` into its folder. Complete runs (the leaderboard's) go to
`runs/`, the random-init CLIP rows scored on a subset to `subset-runs/`, so `leaderboard validate runs/` and
`leaderboard render runs/` take the whole folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from rich.console import Console

from actionbench.tables import print_table

DEMO_SETS = ("ssv2-val", "ego4d-val")  # a Table-1 row needs both datasets
CLIP_SUBSET = 160  # random-init ViT-B-32 on CPU: a deterministic subset keeps the demo within minutes
RUNS, SUBSET_RUNS, DOWNSTREAM_RUNS = "runs", "subset-runs", "downstream-runs"
LEADERBOARD_FILES = ("leaderboard.md", "leaderboard.html")
DOWNSTREAM_FILE = "downstream.md"
DOWNSTREAM_EVAL_SETS = ("ssv2_label-val", "ssv2_template-val", "nextqa-val")


def _paxion_stages():
    """The training stages a plug-in package offers to the demo, or None."""
    for ep in entry_points(group="actionbench.demo"):
        try:
            return ep.load()
        except ImportError:
            return None
    return None


class StageClock:
    """Times the demo's stages and prints each one's time as it ends."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.console.rule(name)
        t0 = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - t0
        self.console.print(f"{name}: done in {self.seconds[name]:.0f} s", highlight=False)

    def summary(self) -> str:
        return ", ".join(f"{name} {s:.0f} s" for name, s in self.seconds.items())


def build_mini_probes(out: Path, seed: int, size: str, console: Console) -> dict[str, tuple[Path, Path]]:
    """Generate the mini benchmark and build its probe sets; returns {name: (probe-set folder, videos root)}."""
    from actionbench.datasets.mini import generate_mini
    from actionbench.probes.schema import ProbeSet
    from actionbench.progress import progress_bar
    from actionbench.tables import counts_table

    with progress_bar() as bar:
        task = bar.add_task("writing the mini benchmark's videos", total=None)
        info = generate_mini(out / "mini", seed=seed, size=size,
                             progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"mini benchmark: {info}", highlight=False)
    sets = mini_probe_sets(out / "mini", out / "probes")
    rows = [(f"mini {name}", ProbeSet.load(folder).manifest.counts) for name, (folder, _) in sets.items()]
    print_table(console, counts_table(rows, title="Mini benchmark probe sets"))
    return sets


def mini_probe_sets(data: Path, out: Path) -> dict[str, tuple[Path, Path]]:
    """The mini benchmark's train and validation probe sets (built once; object foils from the objects of its own
    half of the mini benchmark, so no foil names a thing only the other half shows):
    {"ssv2-train" | "ssv2-val" | "ego4d-train" | "ego4d-val": (probe-set folder, videos root)}."""
    from actionbench.datasets.read import read_annotations
    from actionbench.probes.build import build_probes

    sets: dict[str, tuple[Path, Path]] = {}
    for dataset, source in (("ssv2", data / "ssv2"), ("ego4d", data / "ego4d" / "egoclip.jsonl")):
        for split in ("train", "val"):
            folder = out / f"{dataset}-{split}"
            if not (folder / "manifest.json").is_file():
                result, params = read_annotations(dataset, source, split)
                build_probes(result.clips, dataset=dataset, split=split, parameters={**params, "benchmark": "mini"},
                             skipped=result.skipped, object_pool=f"mini-{dataset}").save(folder)
            sets[f"{dataset}-{split}"] = (folder, data / dataset / "videos")
    return sets


def build_mini_downstream(out: Path, console: Console) -> dict[str, tuple[Path, Path]]:
    """The mini downstream files and sets (SSv2-label / -template retrieval, the question set) from the mini
    benchmark under `out/mini`; returns {"ssv2_label-train" | ... | "nextqa-val": (set folder, videos root)}."""
    from actionbench.datasets.downstream_set import DownstreamSet
    from actionbench.datasets.mini_downstream import build_mini_downstream_sets

    dsets = build_mini_downstream_sets(out / "mini", out / "downstream")
    console.print("mini downstream sets: " + ", ".join(
        f"{name} {DownstreamSet.load(folder).manifest.counts['items']}" for name, (folder, _) in dsets.items()),
        highlight=False)  # fmt: skip
    return dsets


class DownstreamDemo:
    """What the demo hands a training plug-in for the downstream tasks: the mini downstream sets, and `evaluate`,
    which scores (run name, row label, model, model args) on the validation sets through the harness (bundles under
    `downstream-runs/`) and keeps each row's result cells for the demo's downstream table. The plug-in records its
    stage's time in `seconds`."""

    def __init__(self, sets: dict[str, tuple[Path, Path]], out: Path, console: Console) -> None:
        self.sets, self.out, self.console = sets, out, console
        self.rows: list[tuple[str, dict[str, dict[str, Any]]]] = []
        self.bundles: list[Path] = []
        self.seconds: float | None = None

    def evaluate(self, rows: list[tuple[str, str, str, dict[str, Any]]]) -> list[Path]:
        from actionbench.runner import evaluate

        folders = [self.sets[name][0] for name in DOWNSTREAM_EVAL_SETS]
        videos = [self.sets[name][1] for name in DOWNSTREAM_EVAL_SETS]
        bundles = []
        for name, label, model, args in rows:
            bundle = self.out / DOWNSTREAM_RUNS / run_folder(name)
            results, _ = evaluate(model, folders, videos, model_args=args,
                                  out=bundle, progress=True, cache=self.out / "cache",
                                  command=f"actionbench demo ({name})")  # fmt: skip
            self.rows.append((label, {d: next(iter(by_task.values())) for d, by_task in results["downstream"].items()}))
            bundles.append(bundle)
        self.bundles += bundles
        return bundles

    def write(self, files: list[Path]) -> Path:
        """Print the downstream table, write it to `downstream.md` and append it to the Markdown leaderboard."""
        from actionbench.tables import downstream_table, to_markdown

        table = downstream_table(self.rows, title="Mini downstream tasks (SSv2-label-mini / -template-mini retrieval, "
                                 "the mini question set; %, 95% interval)")  # fmt: skip
        print_table(self.console, table)
        text = to_markdown(table)
        path = self.out / DOWNSTREAM_FILE
        path.write_text(text, encoding="utf-8")
        for f in files:
            if f.suffix == ".md":
                f.write_text(f.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
        return path


def run_folder(model: str) -> str:
    """A run folder's name for a model name: no colons (they break paths on some systems)."""
    return model.replace(":", "-").replace("/", "-").lower()


def evaluate_rows(
    rows: list[tuple[str, Any, dict[str, Any], int | None]],
    sets: dict[str, tuple[Path, Path]],
    out: Path,
    console: Console,
    datasets: tuple[str, ...] = DEMO_SETS,
) -> list[Path]:
    """Evaluate each (bundle name, model, model args, limit) on the demo's validation sets (or on `datasets` of
    them: a model trained per dataset is scored on its own); returns bundle dirs. Complete runs go to `out/runs/`,
    subset runs (a limit) to `out/subset-runs/`."""
    from actionbench.runner import evaluate
    from actionbench.tables import results_table

    probes = [sets[name][0] for name in datasets]
    videos = [sets[name][1] for name in datasets]
    bundles = []
    for name, model, args, limit in rows:
        bundle = out / (RUNS if limit is None else SUBSET_RUNS) / run_folder(name)
        results, _ = evaluate(model, probes, videos, model_args=args, out=bundle, limit=limit, progress=True,
                              cache=out / "cache", command=f"actionbench demo ({name})")
        print_table(console, results_table(results))
        bundles.append(bundle)
    return bundles


def write_leaderboard(bundles: list[Path], out: Path, console: Console, probe_sets: list[Path]) -> list[Path]:
    """Validate the complete runs against their probe sets, print their leaderboard, write it as Markdown and
    HTML; returns the files."""
    from actionbench.leaderboard import ProbeSetIndex, load_leaderboard, render
    from actionbench.leaderboard.terminal import to_rich

    board = load_leaderboard(bundles, check=True, index=ProbeSetIndex.from_paths(probe_sets), allow_mixed=True)
    print_table(console, to_rich(board))
    files = []
    for name in LEADERBOARD_FILES:
        path = out / name
        path.write_text(render(board, name.rsplit(".", 1)[1]), encoding="utf-8")
        files.append(path)
    return files


def builtin_rows() -> list[tuple[str, str, dict[str, Any], int | None]]:
    """(run name, model, model args, probe limit) of the built-in models and controls the demo scores."""
    clip_args = {"image_size": 64}  # the mini videos are 64x64: no point upsampling random weights to 224
    rows: list[tuple[str, str, dict[str, Any], int | None]] = [("chance", "chance", {}, None)]
    rows += [(f"{prefix}clip:ViT-B-32", f"{prefix}clip:ViT-B-32", clip_args, CLIP_SUBSET)
             for prefix in ("", "first-frame:", "last-frame:", "blind:")]
    return rows


def run_demo(out: Path, *, seed: int = 0, size: str = "default", console: Console) -> list[Path]:
    """The whole demo; returns the leaderboard files it wrote."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clock = StageClock(console)
    with clock.stage("Mini benchmark and its probe sets"):
        sets = build_mini_probes(out, seed, size, console)
        downstream = DownstreamDemo(build_mini_downstream(out, console), out, console)

    with clock.stage("Built-in models and controls"):
        rows = builtin_rows()
        full = [b for b, (_, _, _, limit) in zip(evaluate_rows(rows, sets, out, console), rows, strict=True)
                if limit is None]
        console.print(f"(random-init clip:ViT-B-32 rows use a {CLIP_SUBSET}-probe subset by probe-id hash, under "
                      f"{out / SUBSET_RUNS}; subsets stay off the leaderboard)", highlight=False)

    stages = _paxion_stages()
    if stages is None:
        console.print("paxion_models is not installed: skipping the training stages")
    else:
        with clock.stage("Paxion: mini backbone and Knowledge Patchers (train, then evaluate)"):
            full += stages(out=out, sets=sets, seed=seed, console=console, evaluate_rows=evaluate_rows,
                           downstream=downstream)

    with clock.stage("Leaderboard of the demo's complete runs"):
        files = write_leaderboard(full, out, console, [folder for folder, _ in sets.values()])
        if downstream.rows:
            files.append(downstream.write(files))
    if downstream.seconds is not None:
        console.print(f"(of the Paxion stage, the downstream models took {downstream.seconds:.0f} s: training and "
                      "evaluation)", highlight=False)
    console.print(f"stage times: {clock.summary()}", highlight=False)
    for path in files:
        console.print(f"wrote {path.resolve()}", highlight=False, soft_wrap=True)
    console.print(f"(check the runs behind it: actionbench leaderboard validate {out / RUNS} --probes-root "
                  f"{out / 'probes'})", highlight=False, soft_wrap=True)
    page = next(f for f in files if f.suffix == ".html")
    console.print(f"open the page in a browser: python -m webbrowser {page.resolve().as_uri()}",
                  highlight=False, soft_wrap=True)
    return files
