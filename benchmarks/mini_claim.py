"""The paper's claim on the mini benchmark, for several generator seeds (the issue's "Done when").

For each seed: generate the mini benchmark, build its probe sets, train the mini backbone (both train splits) and,
on the evaluated dataset's train split (the per-dataset recipe; `--recipe mixed`: both splits), a KP-Perceiver with
VTC and one with VTC+DVDM; evaluate all of them (and the blind / first-frame / last-frame controls) on the SSv2
validation probes through the harness, and check the criteria of issue 17, each printed with its figure and
pass/fail. Prints a table and writes `claims.json`; exits 1 when a criterion fails.

    python benchmarks/mini_claim.py --seeds 0 1 2 --out /tmp/mini-claim
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _claims

from _claims import finish_seed, seed_parser  # noqa: E402

from actionbench.tasks import PROBE_TASKS as TASKS  # noqa: E402
from paxion_models.recipes import RECIPES, run_mini_claim  # noqa: E402


def _figure(cell: dict | None) -> str:
    return "-" if cell is None else f"{cell['accuracy']:.1f} [{cell['ci95'][0]:.1f}, {cell['ci95'][1]:.1f}]"


def main() -> int:
    parser = seed_parser(__doc__, "/tmp/paxion-mini-claim")
    parser.add_argument("--eval-set", default="ssv2-val")
    parser.add_argument("--recipe", default="per-dataset", choices=list(RECIPES),
                        help="the patchers' train splits: the evaluated dataset's (default) or both; the backbone always trains on both")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reports = []
    for seed in args.seeds:
        report = run_mini_claim(seed, args.out / f"seed{seed}", args.size, args.eval_set, not args.quiet,
                                args.recipe)
        reports.append(report)
        print(f"\n== seed {seed} ({args.eval_set}); timings {json.dumps({k: round(v) for k, v in report['timings_s'].items()})}")
        print(f"patchers train on {' + '.join(report['patchers_train_on'])} ({report['recipe']})")
        print(f"{'model':42s} {'AA':>18s} {'VR':>18s} {'OR':>18s}")
        for name, cells in report["accuracy"].items():
            print(f"{name:42s} " + " ".join(f"{_figure(cells.get(task)):>18s}" for task in TASKS))
        for name, families in report["families"].items():
            print(f"{name} per scene family (AA / VR): " + ", ".join(
                f"{f} {t.get('action_antonym', float('nan')):.0f}/{t.get('video_reversal', float('nan')):.0f}"
                for f, t in families.items()))  # fmt: skip
        finish_seed(report, reports, args.out)
    return 0 if all(r["all_ok"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
