"""The downstream claim on the mini benchmark, for several generator seeds (issue 16's "Done when").

For each seed: generate the mini benchmark, build its probe sets and its mini downstream sets, train the mini
backbone and the SSv2-mini KP-Perceiver [VTC+DVDM] (the mini recipe), then a Patch-and-Fuse model from that patcher on
SSv2-label-mini and one on SSv2-template-mini (`recipes.MINI_DOWNSTREAM`); score each and the frozen backbone on
the validation sets, and check that Patch-and-Fuse's R@1 is above the backbone's by a paired bootstrap over
per-query credits at 95% (label video-to-text and text-to-video; template video-to-action). Prints a table with
intervals and pass/fail, writes `claims.json`; exits 1 when a criterion fails.

    python benchmarks/mini_downstream_claim.py --seeds 0 1 2 --out /tmp/mini-downstream-claim
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _claims

from _claims import finish_seed, seed_parser  # noqa: E402

from paxion_models.recipes import run_mini_downstream_claim  # noqa: E402

LABELS = {"mini": "mini backbone (frozen)", "paxion-mini": "Patch-and-Fuse [VTC+DVDM patcher]"}


def _figure(cell: dict, key: str) -> str:
    lo, hi = cell["ci95"][key]
    return f"{cell[key]:.1f} [{lo:.1f}, {hi:.1f}]"


def main() -> int:
    args = seed_parser(__doc__, "/tmp/paxion-mini-downstream-claim").parse_args()
    torch.set_num_threads(args.threads)
    reports = []
    for seed in args.seeds:
        report = run_mini_downstream_claim(seed, args.out / f"seed{seed}", args.size, not args.quiet)
        reports.append(report)
        print(f"\n== seed {seed}; timings {json.dumps({k: round(v) for k, v in report['timings_s'].items()})}")
        print(f"{'set':16s} {'model':36s} {'R@1 v2t':>20s} {'R@1 t2v':>20s}")
        for dataset, models in report["recall"].items():
            for name, cell in models.items():
                print(f"{dataset:16s} {LABELS[name]:36s} {_figure(cell, 'r1_v2t'):>20s} {_figure(cell, 'r1_t2v'):>20s}")
        finish_seed(report, reports, args.out)
    return 0 if all(r["all_ok"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
