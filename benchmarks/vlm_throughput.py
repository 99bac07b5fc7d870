"""Prefix reuse in `vlm:` likelihood scoring against one full forward pass per (view, caption).

A random-weight Qwen2-VL-type checkpoint (built offline, as the tests build theirs; `--hidden`, `--layers` and
`--side` size it) scores the ActionBench workload of `--clips` clips, each with one AA, VR and OR probe:
the forward view is scored against its caption, the AA foil and the OR foil; the reversed view against the
caption (VR). In one run:
  (a) prefix reuse: what `VideoLLM.score` does for each view the runner hands it: the video + prompt prefix once,
      every caption of the view from its key/value cache, batched;
  (b) naive: `VideoLLM.full_forward_logprob` for every (view, caption): the vision tower and the prefix run again
      for each caption.
The processor's output of every view is computed before the clock starts and shared by both, so only the model's
work is timed.
Both give the same log-likelihoods (the largest difference is printed). The theoretical speed-up is the ratio of
the tokens each one runs through the language model (the vision tower's work scales with the prefixes too):
    bound = sum over (view, caption) of (P + C) / (sum over views of P + sum over (view, caption) of C)
with P the prefix tokens of a view (video tokens included) and C a caption's tokens. Target: >= 0.8 of the bound.
It counts tokens only: with long prefixes the measured ratio can pass it, since attention grows with the square of
the sequence and the vision tower's work (repeated per caption by the naive loop) is not counted.

    python benchmarks/vlm_throughput.py --clips 12
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # this checkout, and the tiny checkpoint builder of the tests

from _hfkit import qwen2_vl  # noqa: E402

from actionbench.models.registry import create_model  # noqa: E402

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
OBJECTS = ("cube", "ball", "cup", "box", "cone", "ring")


def workload(clips: int, side: int) -> list[tuple[torch.Tensor, list[str], torch.Tensor, list[str]]]:
    """Per clip: (forward view, its 3 captions, reversed view, its 1 caption), frames in [0, 1]."""
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(clips):
        colour, obj, other = COLOURS[i % 6], OBJECTS[i % 6], OBJECTS[(i + 1) % 6]
        way, back = ("left to right", "right to left") if i % 2 == 0 else ("right to left", "left to right")
        text = f"Pushing {colour} {obj} from {way}"
        frames = torch.rand(8, 3, side, side, generator=g)
        captions = [text, f"Pushing {colour} {obj} from {back}", f"Pushing {colour} {other} from {way}"]
        out.append((frames, captions, frames.flip(0), [text]))
    return out


def run(model, views, inputs, naive: bool) -> list[float]:
    """Every caption's log-likelihood; `inputs`: each view's processor output, computed before the clock starts
    (the same for both methods), so only the model's work is timed."""
    t = model.templates["likelihood"]
    scores: list[float] = []
    for (fwd, fwd_texts, rev, rev_texts), (fwd_in, rev_in) in zip(views, inputs, strict=True):
        for view, texts, view_in in ((fwd, fwd_texts, fwd_in), (rev, rev_texts, rev_in)):
            ids = [model._ids(t.fill(caption=c)) for c in texts]
            if naive:
                scores += [model.full_forward_logprob(view, t.prefix, c, view_in) for c in ids]
            else:  # what VideoLLM.score does for one view
                scores += [s for s, _ in model.continuations(view, t.prefix, [(c, None) for c in ids], view_in)]
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=256, help="language model width of the random checkpoint")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--side", type=int, default=224, help="frame side in pixels (a multiple of 28)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repetitions of each method (best is kept)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/vlm_throughput.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    with tempfile.TemporaryDirectory() as tmp:
        folder = qwen2_vl(Path(tmp) / "qwen2-vl-bench", hidden=a.hidden, layers=a.layers, side=a.side)
        model = create_model(f"vlm:{folder}").to("cpu")
    views = workload(a.clips, a.side)
    t = model.templates["likelihood"]
    prefix = int(model.encode_prefix(views[0][0], t.prefix)["input_ids"].shape[1])
    captions = [len(model._ids(t.fill(caption=c))) for _, f, _, r in views for c in f + r]
    n_views, n_pairs = 2 * len(views), len(captions)
    naive_tokens = n_pairs * prefix + sum(captions)
    reuse_tokens = n_views * prefix + sum(captions)
    bound = naive_tokens / reuse_tokens

    inputs = [(model.encode_prefix(f, t.prefix), model.encode_prefix(r, t.prefix)) for f, _, r, _ in views]
    run(model, views[:1], inputs[:1], naive=False)  # warm-up
    run(model, views[:1], inputs[:1], naive=True)
    times: dict[str, float] = {}
    results: dict[str, list[float]] = {}
    for _ in range(a.repeats):  # interleaved, best of each: a shared machine's noise hits both alike
        for name in ("reuse", "naive"):
            start = time.perf_counter()
            results[name] = run(model, views, inputs, naive=name == "naive")
            times[name] = min(times.get(name, float("inf")), time.perf_counter() - start)
    diff = max(abs(x - y) for x, y in zip(results["reuse"], results["naive"], strict=True))
    speedup = times["naive"] / times["reuse"]
    report = {
        "model": f"random Qwen2-VL-type, LM hidden {a.hidden} x {a.layers} layers, frames {a.side}px",
        "params": sum(p.numel() for p in model.model.parameters()),
        "clips": a.clips, "views": n_views, "captions_scored": n_pairs,
        "prefix_tokens_per_view": prefix, "caption_tokens_mean": sum(captions) / n_pairs,
        "lm_tokens": {"naive": naive_tokens, "reuse": reuse_tokens},
        "seconds": {k: round(v, 4) for k, v in times.items()},
        "views_per_s": {k: round(n_views / v, 2) for k, v in times.items()},
        "speedup": round(speedup, 3), "bound": round(bound, 3), "fraction_of_bound": round(speedup / bound, 3),
        "max_abs_logprob_difference": diff,
        "threads": a.threads, "device": "cpu", "torch": torch.__version__,
    }
    print(json.dumps(report, indent=2))
    print(f"prefix reuse {speedup:.2f}x faster than one full forward per (view, caption); bound {bound:.2f}x "
          f"from token counts ({prefix} prefix tokens per view, {report['caption_tokens_mean']:.1f} per caption): "
          f"{speedup / bound:.2f} of the bound (target >= 0.8)")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
