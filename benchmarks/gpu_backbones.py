"""Backbone throughput on a GPU: videos/s (bf16) and peak memory at 8 frames of 224x224, and InternVideo's
forward + reversed cost with and without trunk reuse. Random weights (the speed does not depend on them).

    python benchmarks/gpu_backbones.py --device cuda [--batch 16] [--iters 20]
    python benchmarks/gpu_backbones.py --device cpu --smoke      # a quick check of the script itself

Prints one JSON line per measurement and a summary table; every ratio comes from one run.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from paxion_models.backbones import clipvip, internvideo, singularity

SMOKE = {
    "internvideo": dict(image_size=56, vision_layers=4, vision_width=64, vision_heads=2, extractor_layers=(1, 2, 3),
                        embed_dim=32, text_layers=1, text_width=32, text_heads=2),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: torch.device, iters: int) -> float:
    fn()  # warm-up (kernel selection, allocator)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / iters


def measure(name: str, model, device: torch.device, batch: int, frames: int, iters: int, dtype: torch.dtype) -> dict:
    size = model.preprocess.size
    x = torch.randn(batch, frames, 3, *size, device=device, dtype=dtype)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        sec = _timed(lambda: model.encode_video(x), device, iters)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return {"backbone": name, "videos_per_s": batch / sec, "peak_gib": peak, "batch": batch, "frames": frames,
            "dtype": str(dtype), "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}


def reversed_cost(model, device: torch.device, batch: int, frames: int, iters: int, dtype: torch.dtype) -> dict:
    size = model.preprocess.size
    x = torch.randn(batch, frames, 3, *size, device=device, dtype=dtype)
    with torch.inference_mode():
        def reuse():
            fwd = model.encode_video(x)
            model.encode_video_reversed(x, fwd)

        def second_pass():
            model.encode_video(x)
            model.encode_video(torch.flip(x, dims=[1]))

        t_reuse = _timed(reuse, device, iters)
        t_full = _timed(second_pass, device, iters)
    return {"internvideo_fwd_plus_reversed_s": {"trunk_reuse": t_reuse, "second_pass": t_full},
            "speedup": t_full / t_reuse}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--smoke", action="store_true", help="tiny InternVideo only, to check the script on a CPU")
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if args.smoke:
        builders = {"internvideo": lambda: internvideo.build(**SMOKE["internvideo"])}
    else:
        builders = {"internvideo": internvideo.build, "clipvip": clipvip.build, "singularity": singularity.build}
    rows = []
    for name, build in builders.items():
        model = build().to(device=device, dtype=dtype)
        rows.append(measure(name, model, device, args.batch, args.frames, args.iters, dtype))
        print(json.dumps(rows[-1]))
        if name == "internvideo":
            print(json.dumps(reversed_cost(model, device, args.batch, args.frames, args.iters, dtype)))
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
