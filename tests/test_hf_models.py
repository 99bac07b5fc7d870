"""hf: and vlm: models on tiny random checkpoints (Qwen2-VL-type, LLaVA-OneVision-type, X-CLIP, SigLIP) built in
the test: each runs through `actionbench eval` into a bundle `leaderboard validate` accepts; the cached prefix
gives the log-likelihoods of a full forward pass; choice mode ignores option order; batch size changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _evalkit import make_suite

pytest.importorskip("transformers")

import _hfkit  # noqa: E402

from actionbench.bundle import read_bundle  # noqa: E402
from actionbench.models.protocol import ModelError  # noqa: E402
from actionbench.models.registry import create_model  # noqa: E402
from actionbench.runner import evaluate  # noqa: E402
from actionbench.runner.fingerprint import fingerprint as _fingerprint  # noqa: E402

GENERATIVE = ("qwen2_vl", "llava_onevision")
DUAL = ("x_clip", "siglip", "siglip2", "clip")
CAPTIONS = ["Pushing red cube from left to right", "Pulling a ball", "Pushing red cube from right to left"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-models")
    return {name: getattr(_hfkit, name)(root / name) for name in GENERATIVE + DUAL}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return make_suite(tmp_path_factory.mktemp("hf-suite"), n_clips=4)


def name_of(folders, family: str) -> str:
    return f"{'vlm' if family in GENERATIVE else 'hf'}:{folders[family]}"


def view(model, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(8, 3, *model.preprocess.size, generator=g)


# ---------------------------------------------------------------------------------- through the CLI


CASES = [("qwen2_vl", "likelihood"), ("qwen2_vl", "choice"), ("llava_onevision", "likelihood"),
         ("llava_onevision", "choice"), ("x_clip", None), ("siglip", None), ("siglip2", None)]


@pytest.mark.parametrize(("family", "mode"), CASES, ids=[f"{f}-{m or 'dual'}" for f, m in CASES])
def test_eval_cli_writes_a_bundle_that_validates(folders, suite, tmp_path, family, mode):
    from typer.testing import CliRunner

    import actionbench.cli.evaluation  # noqa: F401  (registers the commands)
    import actionbench.cli.leaderboard  # noqa: F401
    from actionbench.cli import app

    probes, videos = suite
    out = tmp_path / "bundle"
    args = ["eval", "--model", name_of(folders, family), "--probes", str(probes), "--videos", str(videos),
            "--out", str(out), "--workers", "0", "--no-cache", "--device", "cpu"]
    if mode:
        args += ["--model-arg", f"mode={mode}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    results, predictions = read_bundle(out)
    assert len(predictions) == 12 and not results["partial"]
    details = results["model"]["details"]
    assert details["processor"]["hash"] and details["processor"]["class"].endswith("Processor")
    if mode:
        scoring = details["scoring"]
        assert scoring["mode"] == mode and len(scoring["prompt_hash"]) == 16
        assert all("{" in t for t in scoring["prompt_templates"].values())
        assert results["dtype"] == "float32" and results["model"]["kind"] == "cross"
    else:
        assert results["model"]["order_invariant"] is (family != "x_clip")
        assert results["temporally_blind"] is (family != "x_clip")
    checked = CliRunner().invoke(app, ["leaderboard", "validate", str(out), "--probes", str(probes)])
    assert checked.exit_code == 0, checked.output
    assert "1 entries valid" in checked.output


# ------------------------------------------------------------------------------------- correctness


@pytest.mark.parametrize("family", GENERATIVE)
def test_cached_prefix_log_likelihood_equals_a_full_forward(folders, family):
    model = create_model(name_of(folders, family)).to("cpu")
    x = view(model)
    t = model.templates["likelihood"]
    items = [(model._ids(t.fill(caption=c)), None) for c in CAPTIONS]
    cached = model.continuations(x, t.prefix, items)
    for (ids, _), (total, n) in zip(items, cached, strict=True):
        full = model.full_forward_logprob(x, t.prefix, ids)
        assert n == len(ids)
        assert abs(total - full) <= 1e-4, (total, full)
    # The model's score is that sum (or its per-token mean).
    scores = model.score(x[None], CAPTIONS)[0]
    assert torch.allclose(scores, torch.tensor([s for s, _ in cached]), atol=1e-4)
    mean = create_model(name_of(folders, family), {"normalize": "mean"}).to("cpu")
    assert torch.allclose(mean.score(x[None], CAPTIONS)[0], torch.tensor([s / n for s, n in cached]), atol=1e-4)


@pytest.mark.parametrize("family", GENERATIVE)
def test_choice_answers_from_the_cache_equal_a_full_forward(folders, family):
    model = create_model(name_of(folders, family), {"mode": "choice"}).to("cpu")
    x = view(model, seed=1)
    t = model.templates["choice"]
    ctx = model._ids(t.fill(a=CAPTIONS[0], b=CAPTIONS[2], answer=""))
    letters = model.answer_ids["choice"]
    got = model.continuations(x, t.prefix, [(ctx, letters)])[0]
    for value, letter in zip(got, letters, strict=True):
        full = model.full_forward_logprob(x, t.prefix, ctx + letter)
        assert abs(value - (full - model.full_forward_logprob(x, t.prefix, ctx))) <= 1e-4


@pytest.mark.parametrize("family", GENERATIVE)
def test_choice_score_does_not_depend_on_option_order(folders, family):
    model = create_model(name_of(folders, family), {"mode": "choice"}).to("cpu")
    x = view(model, seed=2)[None]
    a, b, c = CAPTIONS
    one = model.score_options(x, [(a, b), (c, a)])
    other = model.score_options(x, [(b, a), (a, c)])
    assert torch.equal(one, other.flip(1))
    # Both orders are asked: the pair's margin is the mean over "a is (A)" and "a is (B)".
    t = model.templates["choice"]
    la, lb = model.answer_ids["choice"]
    first, second = sorted((a, b))
    r1, r2 = model.continuations(x[0], t.prefix, [(model._ids(t.fill(a=first, b=second, answer="")), [la, lb]),
                                                  (model._ids(t.fill(a=second, b=first, answer="")), [la, lb])])
    want_first = (r1[0] + r2[1]) / 2
    got_first = one[0, 0] if first == a else one[0, 1]
    assert abs(float(got_first) - want_first) <= 1e-5


@pytest.mark.parametrize(("family", "mode"), [("qwen2_vl", "likelihood"), ("llava_onevision", "choice"),
                                              ("x_clip", None)])
def test_decisions_do_not_depend_on_batch_size(folders, suite, family, mode):
    probes, videos = suite
    frames = []
    for batch in (1, 4):
        args = {} if mode is None else {"mode": mode, "text_batch": batch}
        _, frame = evaluate(name_of(folders, family), [probes], [videos], model_args=args, batch_size=batch,
                            cache=False, device="cpu")
        frames.append(frame)
    a, b = frames
    assert list(a.probe_id) == list(b.probe_id)
    assert list(a.decision) == list(b.decision)
    assert (a.s_true - b.s_true).abs().max() <= 1e-4
    assert (a.s_foil - b.s_foil).abs().max() <= 1e-4


def test_xclip_similarity_is_its_own_forward(folders):
    """The split encoders + similarity give what XCLIPModel.forward gives (logits / logit scale)."""
    model = create_model(name_of(folders, "x_clip")).to("cpu")
    x = torch.stack([view(model, 3), view(model, 4)])
    pre = model.preprocess
    pixels = (x - torch.tensor(pre.mean).view(3, 1, 1)) / torch.tensor(pre.std).view(3, 1, 1)
    tokens = model.tokenizer(CAPTIONS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        ours = model.similarity(model.encode_videos(pixels), model.encode_texts(CAPTIONS))
        theirs = model.model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask,
                             pixel_values=pixels).logits_per_video / model.logit_scale
    assert torch.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("family", ["clip", "siglip", "siglip2"])
def test_frame_mean_uses_the_processors_own_preprocessing(folders, family):
    """Harness frames (squashed to the recorded size, normalised with the recorded mean / std) give what the
    checkpoint's own processor gives on the same frames: the mean of the L2-normalised image features."""
    model = create_model(name_of(folders, family)).to("cpu")
    pre = model.preprocess
    g = torch.Generator().manual_seed(5)
    raw = torch.randint(0, 256, (8, 3, *pre.size), generator=g, dtype=torch.uint8)
    x = (raw.float() / 255 - torch.tensor(pre.mean).view(3, 1, 1)) / torch.tensor(pre.std).view(3, 1, 1)
    inputs = model.image_processor(images=list(raw), return_tensors="pt")
    with torch.inference_mode():
        ours = model.encode_videos(x[None])[0]
        feats = model.model.get_image_features(**{k: v for k, v in inputs.items() if k != "input_ids"})
        feats = feats if isinstance(feats, torch.Tensor) else feats.pooler_output
        theirs = torch.nn.functional.normalize(feats.float(), dim=-1).mean(0)
    assert torch.allclose(ours, theirs, atol=1e-4)
    recorded = model.details["processor"]["image_processor"]
    assert recorded["image_mean"] == list(pre.mean) or family == "siglip2"


# ----------------------------------------------------------------------------- fingerprint and safety


def test_prompt_and_mode_are_part_of_the_fingerprint(folders):
    name = name_of(folders, "qwen2_vl")
    base = create_model(name)
    other_question = create_model(name, {"question": "What happens?"})
    choice = create_model(name, {"mode": "choice"})
    prints = [_fingerprint(m) for m in (base, other_question, choice)]
    assert len({json.dumps(p, sort_keys=True) for p in prints}) == 3
    assert base.prompt_hash != other_question.prompt_hash
    assert base.prompt_hash in base.version


def test_remote_code_runs_only_when_asked(tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    marker = tmp_path / "code-ran"
    (folder / "config.json").write_text(json.dumps({
        "model_type": "tiny-custom-vlm",
        "auto_map": {"AutoConfig": "configuration_tiny.TinyConfig", "AutoProcessor": "processing_tiny.TinyProcessor",
                     "AutoModelForImageTextToText": "modeling_tiny.TinyModel"}}))
    for module in ("configuration_tiny", "processing_tiny", "modeling_tiny"):
        (folder / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (folder / "processor_config.json").write_text(json.dumps({"auto_map": {"AutoProcessor": "processing_tiny.TinyProcessor"}}))
    for prefix in ("vlm", "hf"):
        with pytest.raises(ModelError) as err:
            create_model(f"{prefix}:{folder}")
        assert not marker.exists()
        assert "\n" not in str(err.value)


def test_bad_arguments_are_one_line_errors(folders, tmp_path):
    with pytest.raises(ModelError, match="mode='guess'"):
        create_model(name_of(folders, "qwen2_vl"), {"mode": "guess"})
    with pytest.raises(ModelError, match="cannot load"):
        create_model(f"vlm:{tmp_path / 'nothing-here'}")
    with pytest.raises(ModelError, match="not a video-text dual encoder"):
        create_model(f"hf:{folders['qwen2_vl']}")
    with pytest.raises(ModelError, match="normalize applies"):
        create_model(name_of(folders, "qwen2_vl"), {"mode": "choice", "normalize": "mean"})


def test_models_lists_hf_and_vlm():
    from typer.testing import CliRunner

    import actionbench.cli.evaluation  # noqa: F401
    from actionbench.cli import app

    out = CliRunner().invoke(app, ["models"], env={"COLUMNS": "250"})
    assert out.exit_code == 0
    assert "hf:<...>" in out.output and "vlm:<...>" in out.output and "actionbench[hf]" in out.output


def test_leaderboard_keeps_modes_and_prompts_apart(folders, suite, tmp_path):
    from actionbench.leaderboard.submission import load_entries
    from actionbench.leaderboard.table import build_leaderboard

    probes, videos = suite
    name = name_of(folders, "qwen2_vl")
    for sub, args in (("lik", {}), ("choice", {"mode": "choice"}), ("lik-q", {"question": "What happens?"})):
        evaluate(name, [probes], [videos], model_args=args, out=tmp_path / "board" / sub, cache=False, device="cpu")
    entries = {e.name: e for e in load_entries(tmp_path / "board")}
    labels = {k: e.submission.model for k, e in entries.items()}
    assert "[likelihood, prompt " in labels["lik"] and "[choice, prompt " in labels["choice"]
    assert len(set(labels.values())) == 3
    board = build_leaderboard(list(entries.values()), bootstrap_size=50)
    assert len(board.groups) == 3  # never one row's baseline or rank-mate


def test_controls_wrap_a_choice_mode_model(folders, suite):
    """blind: / first-frame: keep choice mode: AA and OR still go to score_options, and the row shows the mode."""
    probes, videos = suite
    results, frame = evaluate(f"blind:{name_of(folders, 'llava_onevision')}", [probes], [videos],
                              model_args={"mode": "choice"}, cache=False, device="cpu")
    assert results["model"]["details"]["scoring"]["mode"] == "choice"
    model = create_model(f"first-frame:{name_of(folders, 'llava_onevision')}", {"mode": "choice"})
    assert callable(getattr(model, "score_options", None))
    assert len(frame) == 12 and not results["partial"]


def test_choice_mode_runs_each_views_prefix_once(folders):
    """score_options and the yes/no score share the prefix up to the video: a view handed to both runs it once,
    and another view never gets the first one's cache."""
    model = create_model(name_of(folders, "qwen2_vl"), {"mode": "choice"}).to("cpu")
    fresh = create_model(name_of(folders, "qwen2_vl"), {"mode": "choice"}).to("cpu")
    assert model.templates["choice"].prefix == model.templates["yes_no"].prefix
    calls = []
    forward = model.model.forward

    def counting(*args, **kwargs):
        calls.append("pixel_values_videos" in kwargs)
        return forward(*args, **kwargs)

    model.model.forward = counting
    x, y = view(model, 6)[None], view(model, 7)[None]
    model.score_options(x, [(CAPTIONS[0], CAPTIONS[1])])
    model.score(x, CAPTIONS[:1])
    assert calls.count(True) == 1
    got = model.score(y, CAPTIONS[:1])
    assert calls.count(True) == 2
    assert torch.allclose(got, fresh.score(y, CAPTIONS[:1]), atol=1e-5)


def test_frames_as_images_gives_the_full_forward_too(folders):
    """frames_as=images: the 8 frames go in as 8 images (one placeholder each); the cache still equals a full pass."""
    model = create_model(name_of(folders, "qwen2_vl"), {"frames_as": "images"}).to("cpu")
    t = model.templates["likelihood"]
    assert t.prefix.count("<|image_pad|>") == 8 and "<|video_pad|>" not in t.prefix
    x = view(model, 8)
    ids = model._ids(t.fill(caption=CAPTIONS[0]))
    (total, _), = model.continuations(x, t.prefix, [(ids, None)])
    assert abs(total - model.full_forward_logprob(x, t.prefix, ids)) <= 1e-4


def test_choice_scores_are_cached_and_reused(folders, suite, tmp_path):
    """A rerun with the same cache reads every option and yes/no score back: the model is not called again."""
    probes, videos = suite
    model = create_model(name_of(folders, "qwen2_vl"), {"mode": "choice"})
    calls = []
    for hook in ("score", "score_options"):
        inner = getattr(model, hook)
        setattr(model, hook, lambda *a, _inner=inner, _hook=hook: calls.append(_hook) or _inner(*a))
    first = evaluate(model, [probes], [videos], cache=tmp_path / "cache", device="cpu")[1]
    assert sorted(set(calls)) == ["score", "score_options"]
    calls.clear()
    again = evaluate(model, [probes], [videos], cache=tmp_path / "cache", device="cpu")[1]
    assert calls == []
    assert list(first.s_true) == list(again.s_true) and list(first.s_foil) == list(again.s_foil)
