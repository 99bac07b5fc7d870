"""Throughput of the scoring harness against a naive loop and against pure decoding.

On a generated set at realistic size (224x224, 5 fps, 4 s clips; one AA, VR and OR probe per clip) with a
random-init `clip:ViT-B-32`, in one run:
  (a) the harness (`actionbench.evaluate`, no cache);
  (b) a naive loop as the original code works: model loaded once, the same decoder, `inference_mode`, one
      probe at a time, AA, VR and OR as three passes (each probe decodes its clip; VR encodes the reversed clip);
  (c) pure decoding of the same clips (the same decoder, one pass);
  (d) the harness with `chance` (decoding only, the model skipped).
It prints the measured speed-up of (a) over (b) next to the theoretical bound for this model (the decodes
and encodes the plan saves, priced at the measured cost of one decode, one video encode and one text
encode), and the clips/s of (d) as a fraction of (c). Targets: >= 0.8 of the bound; >= 0.8 of pure decoding.

    python benchmarks/eval_throughput.py --clips 300 --device cuda --batch-size 32 --workers 8
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from actionbench.ids import seeded_rng, stable_hash
from actionbench.models.registry import create_model
from actionbench.probes.schema import Clip, Probe, ProbeSet
from actionbench.runner import evaluate
from actionbench.video import FrameSpec, read_frames, reverse_frames, to_model_input

SIZE, FPS, SECONDS = 224, 5, 4
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 80, 230), "yellow": (240, 220, 40),
           "purple": (150, 55, 205), "orange": (255, 135, 20)}
OBJECTS = ("cube", "ball", "cup", "box", "cone", "ring")


def write_clip(path: Path, i: int) -> None:
    import av

    rng = seeded_rng("bench-clip", i)
    n = FPS * SECONDS
    background = rng.integers(0, 140, size=(SIZE // 8, SIZE // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    colour = list(COLOURS.values())[i % len(COLOURS)]
    y = int(rng.integers(10, SIZE - 60))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "20", "preset": "veryfast", "bf": "0"})
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for t in range(n):
            frame = background.copy()
            s = t / (n - 1)
            x = int((s if i % 2 == 0 else 1 - s) * (SIZE - 50))
            frame[y : y + 50, x : x + 50] = colour
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_set(root: Path, n_clips: int) -> tuple[Path, Path]:
    videos = root / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    clips, probes = [], []
    names = list(COLOURS)
    for i in range(n_clips):
        cid = f"bench-{i:05d}"
        write_clip(videos / f"{cid}.mp4", i)
        colour, obj, other = names[i % 6], OBJECTS[(i // 6) % 6], OBJECTS[(i // 6 + 1) % 6]
        way, back = ("left to right", "right to left") if i % 2 == 0 else ("right to left", "left to right")
        text = f"Pushing {colour} {obj} number {i} from {way}"  # distinct texts: no text sharing helps the harness
        clips.append(Clip(cid, "ssv2", "validation", f"{cid}.mp4", None, None, cid, text, text,
                          action=f"Pushing [something] from {way}"))
        for task, foil in (("action_antonym", f"Pushing {colour} {obj} number {i} from {back}"),
                           ("video_reversal", None),
                           ("object_replacement", f"Pushing {colour} {other} number {i} from {way}")):
            probes.append(Probe(stable_hash(cid, task), task, cid, text, foil, None))
    ps = ProbeSet.create(clips, probes, lexicon_version="bench", dataset="ssv2", split="validation",
                         parameters={}, dropped={})
    return ps.save(root / "probes"), videos


def naive(model, ps: ProbeSet, videos: Path, spec: FrameSpec, device: torch.device) -> dict[str, float]:
    """(b): one probe at a time, three passes, every clip decoded per probe (as the original code did)."""
    clips = ps.clip_index()
    pre = model.preprocess
    counts = {"decodes": 0, "video_encodes": 0, "text_encodes": 0}
    start = time.perf_counter()
    with torch.inference_mode():
        for task in ("action_antonym", "video_reversal", "object_replacement"):
            for p in (q for q in ps.probes if q.task == task):
                clip = clips[p.clip_id]
                frames, _ = read_frames(videos / clip.video, spec, clip.start, clip.end)
                x = to_model_input(frames, pre.size, pre.mean, pre.std)[None].to(device)
                counts["decodes"] += 1
                if task == "video_reversal":
                    v = model.encode_videos(torch.cat([x, reverse_frames(x)]))
                    t = model.encode_texts([p.text])
                    counts["video_encodes"] += 2
                    counts["text_encodes"] += 1
                    s = model.similarity(v, t)[:, 0]
                else:
                    v = model.encode_videos(x)
                    t = model.encode_texts([p.text, p.foil_text])
                    counts["video_encodes"] += 1
                    counts["text_encodes"] += 2
                    s = model.similarity(v, t)[0]
                float(s[0] - s[1])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - start, **counts}


def unit_costs(model, ps: ProbeSet, videos: Path, spec: FrameSpec, device: torch.device, reps: int = 5
               ) -> dict[str, float]:
    """Cost of one decode (+ preprocessing), one video encode and one text encode, batch of one: the best of
    `reps` clips after a warm-up (the least disturbed by other work on the machine)."""
    clips = list(ps.clip_index().values())[: reps + 1]
    pre = model.preprocess
    dec, venc, tenc = [], [], []
    with torch.inference_mode():
        for clip in clips:
            t0 = time.perf_counter()
            frames, _ = read_frames(videos / clip.video, spec, clip.start, clip.end)
            x = to_model_input(frames, pre.size, pre.mean, pre.std)[None].to(device)
            t1 = time.perf_counter()
            model.encode_videos(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            model.encode_texts([clip.text])
            if device.type == "cuda":
                torch.cuda.synchronize()
            t3 = time.perf_counter()
            dec.append(t1 - t0)
            venc.append(t2 - t1)
            tenc.append(t3 - t2)
    return {"decode": min(dec[1:]), "video_encode": min(venc[1:]), "text_encode": min(tenc[1:])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--model", default="clip:ViT-B-32")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--decode-only", action="store_true", help="measure only (c) and (d)")
    ap.add_argument("--repeats", type=int, default=3, help="repetitions of the decode-only measurements")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--data", type=Path, default=None, help="reuse/keep the generated set here")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/eval_throughput.json"))
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    spec = FrameSpec()

    tmp = None
    root = a.data
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="ab-bench-")
        root = Path(tmp.name)
    if not (root / "probes" / "manifest.json").is_file():
        t0 = time.perf_counter()
        make_set(root, a.clips)
        print(f"generated {a.clips} clips ({SIZE}x{SIZE}, {FPS} fps, {SECONDS} s) in {time.perf_counter() - t0:.1f}s")
    probes, videos = root / "probes", root / "videos"
    ps = ProbeSet.load(probes)
    n_clips = len(ps.clips)

    # (c) pure decoding and (d) the harness with the model skipped (chance), alternated and repeated: the
    # best of each, so a busy machine does not decide the ratio.
    def pure_decode() -> None:
        for clip in ps.clips:
            read_frames(videos / clip.video, spec, clip.start, clip.end)

    def chance(workers: int):
        return lambda: evaluate("chance", [probes], [videos], cache=False, workers=workers,
                                batch_size=a.batch_size, device=str(device))

    timings: dict[str, list[float]] = {"decode": [], "inline": [], "pool": []}
    for _ in range(a.repeats):
        for key, fn in (("decode", pure_decode), ("inline", chance(0)), ("pool", chance(a.workers))):
            t0 = time.perf_counter()
            fn()
            timings[key].append(time.perf_counter() - t0)
    decode_s, chance_inline_s, chance_pool_s = (min(timings[k]) for k in ("decode", "inline", "pool"))

    report: dict = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "clips": n_clips, "probes": len(ps.probes), "batch_size": a.batch_size, "workers": a.workers,
        "torch_threads": torch.get_num_threads(),
        "pure_decode_clips_per_s": n_clips / decode_s,
        "chance_inline_clips_per_s": n_clips / chance_inline_s,
        "chance_pool_clips_per_s": n_clips / chance_pool_s,
        "chance_inline_fraction_of_decode": decode_s / chance_inline_s,
        "chance_pool_fraction_of_decode": decode_s / chance_pool_s,
    }
    print(f"device {report['device']}, {n_clips} clips, {len(ps.probes)} probes, batch {a.batch_size}, "
          f"{a.workers} workers, {torch.get_num_threads()} torch threads")
    print(f"(c) pure decoding   {n_clips / decode_s:8.1f} clips/s")
    print(f"(d) harness, chance {n_clips / chance_inline_s:8.1f} clips/s inline "
          f"({decode_s / chance_inline_s:.2f} of pure decoding; target >= 0.8), "
          f"{n_clips / chance_pool_s:.1f} clips/s with {a.workers} workers")
    if not a.decode_only:
        report.update(compare_with_naive(a, ps, probes, videos, spec, device))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {a.out}")
    if tmp is not None:
        tmp.cleanup()


def compare_with_naive(a, ps: ProbeSet, probes: Path, videos: Path, spec: FrameSpec, device: torch.device) -> dict:
    """(a) against (b), and the theoretical bound from the work each does."""
    n_clips = len(ps.clips)
    model = create_model(a.model).to(device)
    costs = unit_costs(model, ps, videos, spec, device)  # also warms up

    # (a) the harness.
    t0 = time.perf_counter()
    results, _ = evaluate(model, [probes], [videos], cache=False, workers=a.workers, batch_size=a.batch_size,
                          device=str(device))
    harness_s = time.perf_counter() - t0

    # (b) the naive loop.
    nv = naive(model, ps, videos, spec, device)

    n_texts = len({t for p in ps.probes for t in (p.text, p.foil_text) if t})
    blind = results["temporally_blind"]
    harness_work = {"decodes": n_clips, "video_encodes": n_clips * (1 if blind else 2), "text_encodes": n_texts}

    def price(work: dict[str, float]) -> float:
        return (work["decodes"] * costs["decode"] + work["video_encodes"] * costs["video_encode"]
                + work["text_encodes"] * costs["text_encode"])

    bound = price(nv) / price(harness_work)
    speedup = nv["seconds"] / harness_s
    print(f"unit costs: decode {costs['decode'] * 1e3:.1f} ms, video encode {costs['video_encode'] * 1e3:.1f} ms, "
          f"text encode {costs['text_encode'] * 1e3:.1f} ms")
    print(f"(b) naive loop      {nv['seconds']:8.1f} s  ({nv['decodes']} decodes, {nv['video_encodes']} video "
          f"encodes, {nv['text_encodes']} text encodes)")
    print(f"(a) harness         {harness_s:8.1f} s  ({harness_work['decodes']} decodes, "
          f"{harness_work['video_encodes']} video encodes, {n_texts} text encodes)")
    print(f"speed-up {speedup:.2f}x; theoretical bound {bound:.2f}x; fraction {speedup / bound:.2f} (target >= 0.8)")
    return {"model": a.model, "unit_costs_s": costs, "naive": nv, "harness_s": harness_s,
            "harness_work": harness_work, "speedup": speedup, "theoretical_bound": bound,
            "speedup_fraction_of_bound": speedup / bound}


if __name__ == "__main__":
    main()
