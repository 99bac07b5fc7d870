"""Evaluation time of the demo's control rows (`first-frame:`, `last-frame:`, `blind:` of one model) with and
without the runner's shortcuts for controls, in one run, and whether the results are bit-identical.

The shortcuts: a control of a dual encoder encodes its texts with the model it wraps (`text_model`), so the
runner keeps them in the wrapped model's cache namespace and a control row after its model's row encodes no text;
`blind:` is order-invariant by construction (`order_invariant_by_construction`), so the runner skips the check on
clips (three clips encoded forward and reversed, one at a time), which could only pass. The script scores
the demo's model row (random-init `clip:ViT-B-32` at 64 px, the demo's probe subset) on the mini benchmark, then
each control row on a copy of that cache, `--repeat` times each way, interleaved: as the demo does, and with
both attributes removed from the control object; it prints the median seconds per row, the ratio for the three
control rows, and whether the results and predictions are bit-identical each time.

    PYTHONPATH=. python benchmarks/control_rows.py --size tiny --repeat 3 --out /tmp/control-rows.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from actionbench import demo
from actionbench.models.registry import create_model
from actionbench.runner import evaluate

SHORTCUTS = ("text_model", "order_invariant_by_construction")


def control(name: str, args: dict, reuse: bool) -> object:
    model = create_model(name, args)
    if "text_model" not in vars(model):
        raise SystemExit(f"{name}: no text_model on the control: is this the checkout's actionbench? (run with "
                         "PYTHONPATH=. from the repository root)")
    if not reuse:
        for shortcut in SHORTCUTS:
            vars(model).pop(shortcut, None)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", help="mini benchmark size: tiny, small or default")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each control, each way")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    (_, plain, plain_args, _), *controls = demo.builtin_rows()[1:]  # the CLIP row, then its three controls
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sets = demo.build_mini_probes(root, 0, args.size, Console(quiet=True))
        probes = [sets[name][0] for name in demo.DEMO_SETS]
        videos = [sets[name][1] for name in demo.DEMO_SETS]
        opts = {"limit": demo.CLIP_SUBSET, "workers": args.workers}
        evaluate(plain, probes, videos, model_args=plain_args, cache=root / "plain-cache", **opts)  # as the demo
        seconds: dict[str, dict[str, list[float]]] = {"without": {}, "with": {}}
        same = True
        # Interleaved, each run on a copy of the cache the model's own row left (the demo's order), so drift in a
        # shared machine's load falls on both ways alike.
        for r in range(args.repeat):
            for name, model, margs, _ in controls:
                bundles = {}
                for way, reuse in (("without", False), ("with", True)):
                    cache = root / f"cache-{way}-{r}-{name.replace(':', '_')}"
                    shutil.copytree(root / "plain-cache", cache)
                    m = control(model, margs, reuse)
                    start = time.perf_counter()
                    bundles[way] = evaluate(m, probes, videos, cache=cache, **opts)
                    seconds[way].setdefault(name, []).append(time.perf_counter() - start)
                    shutil.rmtree(cache)
                (a, pa), (b, pb) = bundles["without"], bundles["with"]
                same &= pa.equals(pb) and all(a[k] == b[k] for k in ("results", "consistent", "breakdowns",
                                                                     "relations", "missing", "partial"))
    median = {way: {n: statistics.median(v) for n, v in rows.items()} for way, rows in seconds.items()}
    report = {"size": args.size, "repeat": args.repeat, "seconds": seconds, "median": median,
              "controls_without": sum(median["without"].values()), "controls_with": sum(median["with"].values()),
              "bit_identical": same}
    report["speedup_controls"] = report["controls_without"] / report["controls_with"]
    for way in ("without", "with"):
        print(f"{way} the shortcuts (median of {args.repeat}): "
              + ", ".join(f"{n} {s:.1f} s" for n, s in median[way].items()))
    print(f"control rows: {report['controls_without']:.1f} s -> {report['controls_with']:.1f} s "
          f"(x{report['speedup_controls']:.2f}); results bit-identical: {same}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
