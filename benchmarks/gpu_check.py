"""The GPU check (issue 17): one command, no network, under 8 minutes on one H100; it generates its own clips.

In one run, on the same generated clips (224 x 224, 5 fps, 4 s; one AA, VR and OR probe each):
  1. pure decoding (the runner's decoder, the same number of worker processes): clips/s;
  2. evaluation through the real runner (`actionbench.evaluate`, CUDA, AMP auto = bf16) of random-init
     `clip:ViT-L-14` and `internvideo` at 224 px: videos/s, as a fraction of (1), and peak GPU memory;
  3. KP-Perceiver [VTC+DVDM] training on `internvideo`, ATM's reversed video by flipping the forward patch tokens
     vs by a second backbone pass: steps/s and peak GPU memory;
  4. `torchrun` evaluation of `clip:ViT-L-14` (1 process per GPU: NCCL when there are two or more; at world size
     1 the runner joins no process group), which must give the same bundle as the single-process run of (2).
It prints one table (and writes it as JSON with --out); exit 1 when (4) differs.

    python benchmarks/gpu_check.py --out benchmarks/results/gpu_check.json     # on a GPU machine
    python benchmarks/gpu_check.py --smoke                                      # CPU, tiny sizes, 2 gloo ranks
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # this checkout's packages, then eval_throughput

from eval_throughput import make_set  # noqa: E402  (the generated 224-px clips and their probes)

TINY_CLIP = {  # an open_clip config small enough for a CPU smoke run
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 1, "width": 32, "head_width": 16, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY_INTERNVIDEO = dict(image_size=56, vision_layers=4, vision_width=64, vision_heads=2, extractor_layers=(1, 2, 3),
                        embed_dim=32, text_layers=1, text_width=32, text_heads=2)  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    clips: int
    batch: int  # videos per model call when scoring
    train_batch: int
    train_steps: int
    workers: int  # decoding processes
    nproc: int  # torchrun processes


FULL = Sizes(clips=384, batch=32, train_batch=32, train_steps=30, workers=min(8, os.cpu_count() or 1),
             nproc=max(1, torch.cuda.device_count()))  # fmt: skip
SMOKE = Sizes(clips=8, batch=4, train_batch=4, train_steps=2, workers=0, nproc=2)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def pure_decode(probes: Path, videos: Path, workers: int) -> float:
    """Clips/s of decoding alone (the runner's `read_frames`, default frame spec) over `workers` processes."""
    from actionbench.probes.schema import ProbeSet
    from actionbench.video import FrameSpec, read_frames

    clips = ProbeSet.load(probes).clips
    spec = FrameSpec()

    class Clips(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(clips)

        def __getitem__(self, i: int):
            return read_frames(videos / clips[i].video, spec, clips[i].start, clips[i].end)[0]

    loader = torch.utils.data.DataLoader(Clips(), batch_size=None, num_workers=workers)
    t0 = time.perf_counter()
    for _ in loader:
        pass
    return len(clips) / (time.perf_counter() - t0)


def score(model, probes: Path, videos: Path, sizes: Sizes, device: torch.device, out: Path | None = None) -> dict:
    """One evaluation through the runner (after a small warm-up run); videos/s and peak GPU memory."""
    from actionbench import evaluate
    from actionbench.probes.schema import ProbeSet

    n = len(ProbeSet.load(probes).clips)
    common = dict(device=str(device), cache=False, workers=sizes.workers, batch_size=sizes.batch)
    evaluate(model, [probes], [videos], limit=2 * sizes.batch, **common)  # warm-up: kernels, allocator, workers
    _reset_peak(device)
    _sync(device)
    t0 = time.perf_counter()
    results, _ = evaluate(model, [probes], [videos], out=out, **common)
    _sync(device)
    seconds = time.perf_counter() - t0
    return {"videos_per_s": n / seconds, "seconds": seconds, "peak_gib": _peak_gib(device),
            "dtype": results.get("dtype")}


def train(backbone, probes: Path, videos: Path, sizes: Sizes, device: torch.device, reverse_by: str, out: Path) -> dict:
    """KP-Perceiver [VTC+DVDM] steps/s on the frozen backbone (features computed every step, not cached)."""
    from paxion_models.train import TrainConfig, train_head

    cfg = TrainConfig(variant="perceiver", objectives="vtc,vac,atm", batch_size=sizes.train_batch,
                      steps=sizes.train_steps, lr=1e-5, warmup_steps=0, reverse_by=reverse_by,
                      num_workers=sizes.workers, seed=0)  # fmt: skip
    _reset_peak(device)
    result = train_head(backbone, [(probes, videos)], out, cfg, progress=False)
    return {"steps_per_s": result.steps_per_second, "seconds": result.seconds, "peak_gib": _peak_gib(device)}


def torchrun_eval(model_name: str, model_args: dict, probes: Path, videos: Path, sizes: Sizes, device: torch.device,
                  out: Path) -> float:  # fmt: skip
    """`torchrun -m actionbench eval` of the same model into `out`; returns its wall seconds."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={sizes.nproc}",
           "-m", "actionbench", "eval", "--model", model_name, "--probes", str(probes), "--videos", str(videos),
           "--out", str(out), "--no-cache", "--batch-size", str(sizes.batch), "--workers", str(sizes.workers),
           "--device", device.type]  # fmt: skip
    for key, value in model_args.items():
        cmd += ["--model-arg", f"{key}={value}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun eval failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def same_bundle(a: Path, b: Path) -> dict:
    """Compare two result bundles: every accuracy cell and every prediction's decision must match; the largest
    score difference is reported."""
    from actionbench.bundle import read_bundle

    results_a, preds_a = read_bundle(a)
    results_b, preds_b = read_bundle(b)
    by_id = {r["probe_id"]: r for r in preds_b}
    decisions = len(preds_a) == len(preds_b) and all(
        r["probe_id"] in by_id and r["decision"] == by_id[r["probe_id"]]["decision"] for r in preds_a)  # fmt: skip
    diff = max((abs(r[k] - by_id[r["probe_id"]][k]) for r in preds_a if r["probe_id"] in by_id for k in ("s_true", "s_foil")
                if r.get(k) is not None), default=0.0)  # fmt: skip
    cells = results_a["results"] == results_b["results"]
    return {"same_decisions": decisions, "same_accuracy_cells": cells, "max_score_diff": diff, "ok": decisions and cells}


def run(sizes: Sizes, device: torch.device, work: Path, smoke: bool) -> dict:
    from actionbench.models.registry import create_model
    from paxion_models.backbones import build_backbone
    from paxion_models.registry import BackboneModel

    report: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "torch": torch.__version__, "sizes": sizes.__dict__}  # fmt: skip
    t0 = time.perf_counter()
    probes, videos = make_set(work / "clips", sizes.clips)
    report["generate_s"] = time.perf_counter() - t0
    report["pure_decode_clips_per_s"] = pure_decode(probes, videos, sizes.workers)

    if smoke:
        config = work / "tinyclip.json"
        config.write_text(json.dumps(TINY_CLIP))
        clip_name, clip_args, clip_label = f"clip:{config}", {}, "clip (tiny config)"
        internvideo_args, internvideo_label = TINY_INTERNVIDEO, "internvideo (tiny config)"
    else:
        clip_name, clip_args, clip_label = "clip:ViT-L-14", {}, "clip:ViT-L-14 (random init, 224 px)"
        internvideo_args, internvideo_label = {}, "internvideo (random init, 224 px)"
    clip = create_model(clip_name, clip_args)
    report["eval"] = {clip_label: score(clip, probes, videos, sizes, device, out=work / "bundle-single")}
    del clip
    internvideo = build_backbone("internvideo", **internvideo_args)
    report["eval"][internvideo_label] = score(BackboneModel(internvideo), probes, videos, sizes, device)
    report["train"] = {how: train(internvideo, probes, videos, sizes, device, how, work / f"train-{how}")
                       for how in ("flip", "pass")}  # fmt: skip
    del internvideo
    if device.type == "cuda":
        torch.cuda.empty_cache()
    seconds = torchrun_eval(clip_name, clip_args, probes, videos, sizes, device, work / "bundle-torchrun")
    backend = "none (world size 1)" if sizes.nproc == 1 else ("nccl" if device.type == "cuda" else "gloo")
    report["torchrun"] = {"nproc": sizes.nproc, "backend": backend, "seconds": seconds,
                          **same_bundle(work / "bundle-single", work / "bundle-torchrun")}  # fmt: skip
    return report


def table(report: dict) -> str:
    decode = report["pure_decode_clips_per_s"]
    lines = [f"GPU check on {report['device']} (torch {report['torch']}), {report['sizes']['clips']} generated clips, "
             f"{report['sizes']['workers']} decoding workers",
             f"{'check':76s} {'figure':>22s}  {'peak GPU mem':>12s}",
             f"{'pure decoding (same clips, same workers)':76s} {decode:16.1f} clips/s  {'':>12s}"]  # fmt: skip

    def mem(row: dict) -> str:
        return "-" if row.get("peak_gib") is None else f"{row['peak_gib']:.2f} GiB"

    for name, row in report["eval"].items():
        figure = f"{row['videos_per_s']:.1f} videos/s ({row['videos_per_s'] / decode:.2f}x decode)"
        lines.append(f"{'eval ' + name + ', runner, ' + str(row['dtype']):76s} {figure:>22s}  {mem(row):>12s}")
    flip, second = report["train"]["flip"], report["train"]["pass"]
    for how, row in (("ATM by flipping tokens", flip), ("ATM by a second backbone pass", second)):
        lines.append(f"{'train KP-Perceiver [VTC+DVDM] on internvideo, ' + how:76s} {row['steps_per_s']:15.2f} steps/s  {mem(row):>12s}")
    lines.append(f"{'  flipping / second pass':76s} {flip['steps_per_s'] / second['steps_per_s']:21.2f}x")
    tr = report["torchrun"]
    verdict = "PASS" if tr["ok"] else "FAIL"
    lines.append(f"{'torchrun eval of clip, ' + str(tr['nproc']) + ' proc, process group ' + tr['backend'] + ' = single-process':76s} "
                 f"{verdict:>22s}  (max score diff {tr['max_score_diff']:.2g})")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, tiny models and sizes, torchrun with 2 gloo ranks")
    ap.add_argument("--device", default=None, help="default: cuda when available (cpu with --smoke)")
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--work", type=Path, default=None, help="keep the generated clips and bundles here")
    ap.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    a = ap.parse_args()
    sizes = SMOKE if a.smoke else FULL
    if a.clips:
        sizes = Sizes(**{**sizes.__dict__, "clips": a.clips})
    device = torch.device(a.device or ("cpu" if a.smoke or not torch.cuda.is_available() else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda but CUDA is not available here (run with --smoke on a CPU)", file=sys.stderr)
        return 2
    if device.type != "cuda" and not a.smoke:
        print("gpu_check: no GPU here; run with --smoke for the CPU check of the script", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = a.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report = run(sizes, device, work, a.smoke)
    report["total_s"] = time.perf_counter() - start
    print(table(report))
    print(f"total {report['total_s']:.0f} s")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["torchrun"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
