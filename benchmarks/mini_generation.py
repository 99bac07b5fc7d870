"""How long the default-size mini benchmark takes to generate (goal: about 2 minutes on an idle 2-core machine,
under 4 on a busy one). Moved here from tests/test_mini.py: timings belong in benchmarks, not in asserts.

usage: python benchmarks/mini_generation.py [--size default] [--out /tmp/mini-generation]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from actionbench.datasets.mini import generate_mini


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default")
    parser.add_argument("--out", type=Path, default=Path("/tmp/mini-generation"))
    args = parser.parse_args()
    if args.out.exists() and (args.out / "README.txt").is_file():
        shutil.rmtree(args.out)
    started = time.perf_counter()
    info = generate_mini(args.out, seed=0, size=args.size)
    seconds = time.perf_counter() - started
    print(f"mini benchmark ({args.size}): {info}")
    print(f"generated in {seconds:.1f} s (goal: under 240 s on 2 cores)")


if __name__ == "__main__":
    main()
