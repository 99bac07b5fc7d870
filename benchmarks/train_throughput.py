"""Training steps/s of a KP-Perceiver [VTC+DVDM] on `openclip` ViT-B-32 at 8 x 224: ATM's reversed video by
flipping the frozen backbone's patch tokens vs by a second backbone pass (what the original did), one run.

    python benchmarks/train_throughput.py --steps 5 --batch-size 4 [--arch ViT-B-32] [--pretrained TAG|FILE]

Random open_clip weights unless --pretrained is given (speed does not depend on the weights). Prints a table and
writes `train_throughput.json` under --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-B-32")
    parser.add_argument("--pretrained", default=None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/paxion-throughput"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from paxion_models.backbones import build_backbone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the synthetic split lives with the tests
    from _synthetic import make_split

    from paxion_models.train import TrainConfig, train_head

    data = make_split(args.out / "data", "train", args.clips) if not (args.out / "data" / "probes-train").is_dir() else (
        args.out / "data" / "probes-train", args.out / "data" / "videos")  # fmt: skip
    backbone = build_backbone("openclip", arch=args.arch, **({"pretrained": args.pretrained} if args.pretrained else {}))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = {}
    for how in ("flip", "pass", "flip"):  # flip twice: the first run also warms up decoding and kernels
        cfg = TrainConfig(objectives="vtc,vac,atm", steps=args.steps, batch_size=args.batch_size, reverse_by=how, lr=1e-4)
        t = time.perf_counter()
        result = train_head(backbone, [data], args.out / f"run-{how}-{len(rows)}", cfg, progress=False)
        rows[how] = {"steps_per_s": result.steps_per_second, "wall_s": time.perf_counter() - t,
                     "params": result.trainable_params}  # fmt: skip
    ratio = rows["flip"]["steps_per_s"] / rows["pass"]["steps_per_s"]
    report = {"arch": args.arch, "frames": 8, "size": list(backbone.preprocess.size), "batch_size": args.batch_size,
              "device": device if device == "cpu" else torch.cuda.get_device_name(), "threads": args.threads,
              "runs": rows, "speedup_flip_over_pass": ratio}  # fmt: skip
    print(f"{args.arch} 8x{backbone.preprocess.size[0]} batch {args.batch_size} on {report['device']}")
    for how, r in rows.items():
        print(f"  ATM by {how:4s}: {r['steps_per_s']:.3f} steps/s")
    print(f"  flip / pass: {ratio:.2f}x  (trainable parameters {rows['flip']['params']:,})")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
