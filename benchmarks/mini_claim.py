"""The paper's claim on the mini benchmark, for several generator seeds (the issue's "Done when").

For each seed: generate the mini benchmark, build its probe sets, train the mini backbone, a KP-Perceiver with
VTC and one with VTC+DVDM, evaluate all of them (and the blind / first-frame / last-frame controls) on the SSv2
validation probes through the harness, and check the claims. Prints a table and writes `claims.json`.

    python benchmarks/mini_claim.py --seeds 0 1 2 --out /tmp/mini-claim
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from paxion_models.recipes import TRAIN_SETS, run_mini_claim


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("/tmp/paxion-mini-claim"))
    parser.add_argument("--size", default="default")
    parser.add_argument("--eval-set", default="ssv2-val")
    parser.add_argument("--train-on", nargs="+", default=list(TRAIN_SETS), choices=list(TRAIN_SETS),
                        help="the train splits of the two patchers (default: both; the backbone always trains on both)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reports = []
    for seed in args.seeds:
        report = run_mini_claim(seed, args.out / f"seed{seed}", args.size, args.eval_set, not args.quiet,
                                tuple(args.train_on))
        reports.append(report)
        print(f"\n== seed {seed} ({args.eval_set}); timings {json.dumps({k: round(v) for k, v in report['timings_s'].items()})}")
        print(f"{'model':42s} {'AA':>6s} {'VR':>6s} {'OR':>6s}")
        for name, acc in report["accuracy"].items():
            print(f"{name:42s} {acc.get('action_antonym', float('nan')):6.1f} {acc.get('video_reversal', float('nan')):6.1f} "
                  f"{acc.get('object_replacement', float('nan')):6.1f}")  # fmt: skip
        for name, families in report["families"].items():
            print(f"{name} per scene family (AA / VR): " + ", ".join(
                f"{f} {t.get('action_antonym', float('nan')):.0f}/{t.get('video_reversal', float('nan')):.0f}"
                for f, t in families.items()))  # fmt: skip
        for c in report["claims"]:
            print(f"  [{'ok' if c['ok'] else 'FAIL'}] {c['what']}  {c['detail']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "claims.json").write_text(json.dumps(reports, indent=2) + "\n")
    return 0 if all(r["all_ok"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
