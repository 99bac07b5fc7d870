"""What the claim scripts (`mini_claim.py`, `mini_downstream_claim.py`) print and save after each seed."""

from __future__ import annotations

import json
from pathlib import Path


def finish_seed(report: dict, reports: list[dict], out: Path) -> None:
    """Print each criterion with its figure and pass/fail and the seed's verdict; save every report so far."""
    for c in report["claims"]:
        print(f"  [{'pass' if c['ok'] else 'FAIL'}] {c['what']}: {c['detail']}")
    print(f"seed {report['seed']}: {'every criterion passes' if report['all_ok'] else 'a criterion FAILS'}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "claims.json").write_text(json.dumps(reports, indent=2) + "\n")  # after each seed


def seed_parser(doc: str, default_out: str):
    """The claim scripts' common options: --seeds, --out, --size, --threads, --quiet (a script adds its own)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path(default_out))
    parser.add_argument("--size", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quiet", action="store_true")
    return parser
