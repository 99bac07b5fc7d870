"""Issue 13, the runner's cases: videos read only under their root through one resolver, a damaged cache is
recomputed, a changed plugin is never served stale embeddings, a truncated video is missing, a bundle of another
model is not overwritten silently, plugin errors keep the model name, and the README's workflow on real footage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from _evalkit import clip_frames, make_suite, write_tiny_config, write_video
from test_evaluate import _one_thread, ordered  # noqa: F401  (_one_thread: an autouse fixture)

from actionbench import evaluate
from actionbench.errors import InputError
from actionbench.ids import stable_hash
from actionbench.models.protocol import ModelError
from actionbench.probes.schema import Clip, Probe, ProbeSet
from actionbench.video import VideoError, resolve_video

REPO = Path(__file__).resolve().parents[1]
REAL_CLIP = REPO.parent / "shared" / "data" / "real" / "video" / "194058.mp4"


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """Four clips (test_evaluate's suite has ten): these tests check outcomes, not batching."""
    root = tmp_path_factory.mktemp("suite")
    probes, videos = make_suite(root, n_clips=4)
    return probes, videos, write_tiny_config(root)


def _real_clip() -> Path:
    if not REAL_CLIP.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{REAL_CLIP} is missing")
        pytest.skip(f"{REAL_CLIP} is not here")
    return REAL_CLIP


def _one_clip_set(video: str, clip_id: str = "c0", text: str = "Pushing a cube from left to right") -> ProbeSet:
    clip = Clip(clip_id, "ssv2", "validation", video, None, None, clip_id, text, text, action="Pushing")
    probes = [Probe(stable_hash(clip_id, t), t, clip_id, text, None if t == "video_reversal" else f"{text}!", None)
              for t in ("action_antonym", "video_reversal", "object_replacement")]
    return ProbeSet.create([clip], probes, lexicon_version="test", dataset="ssv2", split="validation",
                           parameters={}, dropped={})


# ------------------------------------------------------------------- 7. one resolver, under the root


def test_the_video_resolver_refuses_absolute_and_parent_paths(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "outside.mp4").write_bytes(b"x")
    for bad in ("../outside.mp4", "/etc/passwd", "a/../../outside.mp4", "", "~/x.mp4"):
        with pytest.raises(VideoError):
            resolve_video(tmp_path / "root", bad)
    assert resolve_video(tmp_path / "root", "a/b.webm") == tmp_path / "root" / "a" / "b.webm"


def test_eval_never_decodes_a_video_outside_its_root(suite, tmp_path):
    _, _, config = suite
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(tmp_path / "outside.mp4", clip_frames(0))
    name, args = ordered(config)
    results, _ = evaluate(name, [_one_clip_set("../outside.mp4")], [videos], model_args=args, cache=False,
                          allow_missing=True, bootstrap_size=100)
    assert results["partial"] and results["missing"][0]["clip_id"] == "c0"
    assert "climbs out of its root" in results["missing"][0]["error"]


def test_decoder_errors_in_results_json_name_the_relative_video_not_the_full_path(suite, tmp_path):
    _, _, config = suite
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    (videos / "sub" / "c0.mp4").write_bytes(b"not a video at all" * 50)
    name, args = ordered(config)
    results, _ = evaluate(name, [_one_clip_set("sub/c0.mp4")], [videos], model_args=args, cache=False,
                          allow_missing=True, bootstrap_size=100, out=tmp_path / "out")
    error = results["missing"][0]["error"]
    assert error.startswith("sub/c0.mp4: ") and str(tmp_path) not in error
    assert str(tmp_path) not in json.dumps(json.loads((tmp_path / "out" / "results.json").read_text())["missing"])


# ------------------------------------------------------------------------- 11. NaN in the cache


def _poison_cache(cache_root: Path) -> int:
    """Overwrite every video row of the committed batches with NaN (as disk damage would); returns rows."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    n = 0
    for path in cache_root.glob("*/batches/video-*.safetensors"):
        with safe_open(str(path), framework="pt") as f:
            meta, rows = f.metadata(), f.get_tensor("rows")
        rows[:] = float("nan")
        n += rows.shape[0]
        save_file({"rows": rows}, str(path), metadata=meta)
    return n


def test_a_nan_in_a_cache_entry_is_recomputed_not_blamed_on_the_model(suite, tmp_path):
    probes, videos, config = suite
    name, args = ordered(config)
    first, frame1 = evaluate(name, [probes], [videos], model_args=args, cache=tmp_path / "cache", bootstrap_size=100)
    assert _poison_cache(tmp_path / "cache") > 0
    again, frame2 = evaluate(name, [probes], [videos], model_args=args, cache=tmp_path / "cache", bootstrap_size=100)
    assert list(frame1.decision) == list(frame2.decision)
    assert (frame1.s_true - frame2.s_true).abs().max() <= 1e-6
    assert any("non-finite" in note for note in again["run"]["cache_ignored"])
    # ... and the recomputed rows are committed: a third run takes everything from the cache again.
    third, _ = evaluate(name, [probes], [videos], model_args=args, cache=tmp_path / "cache", bootstrap_size=100)
    assert third["run"]["cache_hits"] == third["run"]["embeddings"] > 0


# ---------------------------------------------------------------- 13. a changed plugin's source


PLUGIN = '''
import torch
from actionbench.models.clip import ClipFrameMean


class Plugin(ClipFrameMean):
    order_invariant = False

    def encode_videos(self, frames):
        b, t = frames.shape[:2]
        x = torch.nn.functional.normalize(self.model.encode_image(frames.flatten(0, 1)).float(), dim=-1)
        w = torch.linspace(WEIGHTS, t, device=x.device).view(1, t, 1)
        return (x.view(b, t, -1) * w).mean(dim=1)


def factory(config):
    model = Plugin(config)
    model.name = "my-plugin"
    return model
'''


def test_a_changed_plugin_source_gives_a_new_fingerprint_and_new_embeddings(suite, tmp_path):
    probes, videos, config = suite
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN.replace("WEIGHTS", "0.2, 1.8"))
    cache = tmp_path / "cache"
    kw = {"model_args": {"config": str(config)}, "cache": cache, "bootstrap_size": 100}
    old, old_frame = evaluate(f"{plugin}:factory", [probes], [videos], **kw)
    assert old["run"]["cache_hits"] == 0 and old["run"]["embeddings"] > 0
    same, _ = evaluate(f"{plugin}:factory", [probes], [videos], **kw)
    assert same["run"]["cache_hits"] == same["run"]["embeddings"]  # unchanged code: all from the cache
    # The same file, model name and arguments, new code (and no `version` bump): nothing is reused.
    plugin.write_text(PLUGIN.replace("WEIGHTS", "1.8, 0.2"))
    new, new_frame = evaluate(f"{plugin}:factory", [probes], [videos], **kw)
    assert new["run"]["cache_hits"] < new["run"]["embeddings"]
    assert new["run"]["cache"] != old["run"]["cache"]
    assert (old_frame.s_true - new_frame.s_true).abs().max() > 1e-4


def test_the_eval_command_says_how_many_embeddings_came_from_the_cache(suite, tmp_path):
    probes, videos, config = suite
    name, _ = ordered(config)
    cmd = [sys.executable, "-m", "actionbench", "eval", "--model", name, "--model-arg", f"config={config}",
           "--probes", str(probes), "--videos", str(videos), "--cache", str(tmp_path / "cache"),
           "--bootstrap-size", "100"]
    first = subprocess.run([*cmd, "--out", str(tmp_path / "a")], capture_output=True, text=True, cwd=REPO,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([*cmd, "--out", str(tmp_path / "b")], capture_output=True, text=True, cwd=REPO,
                            timeout=300)
    assert second.returncode == 0, second.stderr
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    n = results["run"]["embeddings"]
    assert f"embeddings: {n} of {n} from the cache" in second.stdout + second.stderr


# ------------------------------------------------------------------- 14. a truncated video


def _faststart(src: Path, dst: Path) -> None:
    """Remux (no re-encode) with the index at the front, as web-ready files are: cut in half it still opens."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)


def _cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_real_video_cut_in_half_is_counted_missing_and_listed_by_doctor(suite, tmp_path):
    from actionbench.doctor import check_videos

    _, _, config = suite
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(_real_clip(), videos / "whole.mp4")
    _faststart(_real_clip(), videos / "front.mp4")
    _cut_in_half(videos / "front.mp4")
    shutil.copy(_real_clip(), videos / "back.mp4")
    _cut_in_half(videos / "back.mp4")
    sets = [_one_clip_set(f"{name}.mp4", clip_id=name, text=f"Book falling like a rock {name}")
            for name in ("whole", "front", "back")]
    name, args = ordered(config)
    results, frame = evaluate(name, sets, [videos], model_args=args, cache=False, allow_missing=True,
                              bootstrap_size=100)
    missing = {m["clip_id"]: m["error"] for m in results["missing"]}
    assert set(missing) == {"front", "back"} and results["partial"]
    assert "truncated or corrupt" in missing["front"]
    assert set(frame.clip_id) == {"whole"}
    for ps in sets:
        ps.save(tmp_path / f"ps-{ps.clips[0].clip_id}")
    bad = {b.clip_id for n in ("whole", "front", "back") for b in check_videos(tmp_path / f"ps-{n}", videos).bad}
    assert bad == {"front", "back"}


# ------------------------------------------------------------- 15. a bundle of another model


def test_eval_out_refuses_a_bundle_of_another_model_unless_overwrite(suite, tmp_path):
    probes, videos, config = suite
    name, args = ordered(config)
    out = tmp_path / "out"
    evaluate(name, [probes], [videos], model_args=args, cache=False, out=out, bootstrap_size=100)
    with pytest.raises(InputError, match="holds a bundle of model 'ordered-tinyclip'.*--overwrite"):
        evaluate("chance", [probes], [videos], cache=False, out=out, bootstrap_size=100)
    assert json.loads((out / "results.json").read_text())["model"]["name"] == "ordered-tinyclip"
    # The same run again (a resume) goes on without being asked; another model with overwrite replaces it.
    evaluate(name, [probes], [videos], model_args=args, cache=False, out=out, bootstrap_size=100)
    evaluate("chance", [probes], [videos], cache=False, out=out, bootstrap_size=100, overwrite=True)
    assert json.loads((out / "results.json").read_text())["model"]["name"] == "chance"


def test_the_eval_command_refuses_another_models_bundle_in_one_line(suite, tmp_path):
    probes, videos, _ = suite
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "actionbench", "eval", "--probes", str(probes), "--videos", str(videos),
           "--no-cache", "--bootstrap-size", "100", "--out", str(out)]
    assert subprocess.run([*cmd, "--model", "chance"], capture_output=True, text=True, cwd=REPO).returncode == 0
    other = subprocess.run([*cmd, "--model", "first-frame:chance"], capture_output=True, text=True, cwd=REPO)
    assert other.returncode == 2 and "--overwrite" in other.stderr and "Traceback" not in other.stderr


# ---------------------------------------------------------------- plugin errors keep the model


BAD_PLUGIN = '''
import torch
from actionbench.models.clip import ClipFrameMean


class Bad(ClipFrameMean):
    order_invariant = False

    def encode_texts(self, texts):
        FAULT


def factory(config):
    model = Bad(config)
    model.name = "bad-plugin"
    return model
'''


@pytest.mark.parametrize(("fault", "message"), [
    ("raise KeyError('vocab')", r"model bad-plugin: encode_texts raised KeyError: 'vocab'"),
    ("raise TypeError('expected str')", r"model bad-plugin: encode_texts raised TypeError: expected str"),
    ("assert False, 'tokenizer broke'", r"model bad-plugin: encode_texts raised AssertionError: tokenizer broke"),
    ("return torch.zeros(len(texts), 7)", r"model bad-plugin: text embeddings are 7 wide but video embeddings"
                                          r" are 32 wide"),
])
def test_a_plugin_error_keeps_the_model_name(suite, tmp_path, fault, message):
    probes, videos, config = suite
    plugin = tmp_path / "bad.py"
    plugin.write_text(BAD_PLUGIN.replace("FAULT", fault))
    with pytest.raises(ModelError, match=message):
        evaluate(f"{plugin}:factory", [probes], [videos], model_args={"config": str(config)}, cache=False,
                 bootstrap_size=100)


# ------------------------------------------------------ 16. the README's workflow on real footage


@pytest.mark.slow
def test_preprocess_doctor_eval_end_to_end_on_real_video_files(tmp_path):
    """`<id>.webm` in the probe set, `<id>.mp4` after preprocess, and the genuine ActionBench-preprocessed clip."""
    raw = tmp_path / "raw"
    raw.mkdir()
    clips, probes = [], []
    for i, vid in enumerate(("1001", "1002")):
        frames = clip_frames(i, n=20, size=96)
        with av.open(str(raw / f"{vid}.webm"), "w") as container:
            stream = container.add_stream("libvpx", rate=12)
            stream.width, stream.height, stream.pix_fmt = 96, 96, "yuv420p"
            for f in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    for vid in ("1001", "1002", "194058"):
        text = f"Pushing thing {vid} from left to right" if vid != "194058" else "Book falling like a rock"
        clips.append(Clip(vid, "ssv2", "validation", f"{vid}.webm", None, None, vid, text, text, action="x"))
        for task in ("action_antonym", "video_reversal", "object_replacement"):
            probes.append(Probe(stable_hash(vid, task), task, vid, text,
                                None if task == "video_reversal" else f"{text} backwards", None))
    ProbeSet.create(clips, probes, lexicon_version="test", dataset="ssv2", split="validation", parameters={},
                    dropped={}).save(tmp_path / "probes")
    config = write_tiny_config(tmp_path)

    def ab(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "actionbench", *args], capture_output=True, text=True,
                              cwd=REPO, timeout=300)

    pre = tmp_path / "videos-5fps-224"
    done = ab("preprocess", "--videos", str(raw), "--out", str(pre))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in pre.iterdir()) == ["1001.mp4", "1002.mp4"]
    shutil.copy(_real_clip(), pre / "194058.mp4")  # as ActionBench's own preprocessing left it
    doctor = ab("doctor", "--probes", str(tmp_path / "probes"), "--videos", str(pre))
    assert doctor.returncode == 0 and "all 3 videos decode" in doctor.stdout, doctor.stdout + doctor.stderr
    run = ab("eval", "--model", f"clip:{config}", "--probes", str(tmp_path / "probes"), "--videos", str(pre),
             "--out", str(tmp_path / "run"), "--no-cache", "--bootstrap-size", "100")
    assert run.returncode == 0, run.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert not results["partial"] and results["missing"] == []
    assert results["results"]["ssv2"]["action_antonym"]["n"] == 3
