"""Models: the registry (names, prefixes, files, arguments), chance, the clip: frame-mean model, the controls."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from _evalkit import write_tiny_config

from actionbench.models.builtin import ChanceModel
from actionbench.models.clip import ClipFrameMean
from actionbench.models.controls import degrade, wrap
from actionbench.models.protocol import CrossEncoder, ModelError, Preprocess
from actionbench.models.registry import create_model, load_registry, model_kind, parse_model_args
from actionbench.probes.schema import Probe


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    return write_tiny_config(tmp_path_factory.mktemp("cfg"))


def frames(b: int = 2, t: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------- arguments


def test_model_args_are_parsed_as_int_float_bool_or_string():
    assert parse_model_args(["n=3", "lr=0.5", "flag=true", "off=False", "tag=laion2b_s34b_b79k", "p=a=b"]) == {
        "n": 3, "lr": 0.5, "flag": True, "off": False, "tag": "laion2b_s34b_b79k", "p": "a=b"}
    assert parse_model_args([], checkpoint="w.safetensors") == {"checkpoint": "w.safetensors"}


@pytest.mark.parametrize("bad", [["novalue"], ["=3"], ["a b=1"], ["x=1", "x=2"]])
def test_malformed_model_args_are_refused_in_one_line(bad):
    with pytest.raises(ModelError, match="--model-arg"):
        parse_model_args(bad)


def test_checkpoint_and_a_checkpoint_model_arg_cannot_both_be_given():
    with pytest.raises(ModelError, match="both given"):
        parse_model_args(["checkpoint=a"], checkpoint="b")


# ----------------------------------------------------------------------------------------- registry


def test_the_registry_lists_built_ins_with_what_they_need():
    registry = load_registry()
    for name in ("chance", "clip", "first-frame", "last-frame", "blind"):
        assert registry.specs[name].source == "built-in"
        assert registry.specs[name].description
    assert registry.specs["clip"].prefix and "pretrained" in registry.specs["clip"].weights


def test_an_unknown_name_gets_a_suggestion():
    with pytest.raises(ModelError, match=r"unknown model 'chanse'; did you mean chance"):
        create_model("chanse")


def test_an_argument_a_factory_does_not_take_is_named():
    with pytest.raises(ModelError, match=r"model 'chance' cannot be created with colour='red'"):
        create_model("chance", {"colour": "red"})


def test_a_file_factory_loads_by_path(tmp_path, config):
    model_file = tmp_path / "my_model.py"
    model_file.write_text(
        "from actionbench.models.protocol import CrossEncoder\n"
        "class Mine(CrossEncoder):\n"
        "    def __init__(self, seed):\n        self.seed = seed\n"
        "    def score(self, frames, texts):\n        return frames.new_zeros(frames.shape[0], len(texts))\n"
        "def build(seed=0):\n    return Mine(seed)\n"
        "def named():\n    m = Mine(0)\n    m.name = 'mine'\n    return m\n"
    )
    model = create_model(f"{model_file}:build", {"seed": 3})
    assert model.seed == 3 and model.args == {"seed": 3} and model_kind(model) == "cross"
    assert model.name == f"{model_file}:build"
    assert create_model(f"{model_file}:named").name == "mine"  # a model that names itself keeps its name
    with pytest.raises(ModelError, match="no attribute 'nothing'"):
        create_model(f"{model_file}:nothing")
    with pytest.raises(ModelError, match="not found"):
        create_model(f"{tmp_path / 'absent.py'}:build")


def test_a_factory_that_returns_something_else_is_refused(tmp_path):
    model_file = tmp_path / "not_a_model.py"
    model_file.write_text("def build():\n    return 42\n")
    with pytest.raises(ModelError, match="returned int, which is not a model"):
        create_model(f"{model_file}:build")


# ------------------------------------------------------------------------------------------- chance


def test_chance_scores_depend_only_on_the_probe_id_and_seed():
    probes = [Probe(f"p{i}", "action_antonym", "c", "t", "f", None) for i in range(200)]
    a = create_model("chance").score_probes(probes)
    b = create_model("chance").score_probes(list(reversed(probes))).flip(0)
    assert torch.equal(a, b) and a.shape == (200, 2)
    assert not torch.equal(a, create_model("chance", {"seed": 1}).score_probes(probes))
    wins = (a[:, 0] > a[:, 1]).float().mean().item()
    assert 0.35 < wins < 0.65
    assert model_kind(create_model("chance")) == "cross"


# --------------------------------------------------------------------------------------------- clip


def test_clip_frame_mean_is_order_invariant_and_seeded(config):
    model = create_model(f"clip:{config}")
    assert isinstance(model, ClipFrameMean) and model_kind(model) == "dual"
    assert model.order_invariant and model.preprocess.size == (32, 32) and model.weights_hash is None
    x = frames()
    with torch.inference_mode():
        v = model.encode_videos(x)
        assert v.shape == (2, 32)
        assert torch.allclose(v, model.encode_videos(x.flip(1)), atol=1e-6)
        t = model.encode_texts(["opening a jar", "closing a jar", "a cup"])
    assert t.shape == (3, 32) and model.similarity(v, t).shape == (2, 3)
    again = create_model(f"clip:{config}")
    other = create_model(f"clip:{config}", {"seed": 1})
    with torch.inference_mode():
        assert torch.equal(again.encode_videos(x), v)
        assert not torch.allclose(other.encode_videos(x), v)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_clip_loads_a_checkpoint_through_open_clip_and_hashes_it(tmp_path, config, suffix):
    source = create_model(f"clip:{config}", {"seed": 7})
    path = tmp_path / f"weights{suffix}"
    state = {k: v.contiguous() for k, v in source.model.state_dict().items()}
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    loaded = create_model(f"clip:{config}", parse_model_args([], checkpoint=path))
    assert loaded.weights_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.args == {"checkpoint": str(path)}
    same = create_model(f"clip:{config}", {"pretrained": str(path)})
    x = frames()
    with torch.inference_mode():
        assert torch.allclose(loaded.encode_videos(x), source.encode_videos(x), atol=1e-6)
        assert torch.equal(same.encode_texts(["a"]), loaded.encode_texts(["a"]))


def test_clip_errors_name_the_architecture_and_the_problem(config):
    with pytest.raises(ModelError, match="unknown open_clip architecture 'ViT-Q-99'"):
        create_model("clip:ViT-Q-99")
    with pytest.raises(ModelError, match=r"pretrained 'no-such-tag' is neither a file nor a tag \(tags: "):
        create_model("clip:ViT-B-32", {"pretrained": "no-such-tag"})
    with pytest.raises(ModelError, match="checkpoint .* not found"):
        create_model(f"clip:{config}", {"checkpoint": "/nonexistent/w.pt"})
    with pytest.raises(ModelError, match="give an open_clip architecture"):
        create_model("clip:")


# ----------------------------------------------------------------------------------------- controls


def test_controls_wrap_any_model_under_their_own_name(config):
    first = create_model(f"first-frame:clip:{config}")
    last = create_model(f"last-frame:clip:{config}")
    blind = create_model(f"blind:clip:{config}", {"seed": 2})
    assert first.name == f"first-frame:clip:{config}" and blind.args == {"seed": 2}
    assert not first.order_invariant and not last.order_invariant and blind.order_invariant
    inner = create_model(f"clip:{config}")
    x = frames()
    with torch.inference_mode():
        # The first frame of the reversed clip is the last frame of the clip.
        assert torch.allclose(first.encode_videos(x.flip(1)), last.encode_videos(x), atol=1e-6)
        assert torch.allclose(first.encode_videos(x), inner.encode_videos(x[:, :1].repeat(1, 4, 1, 1, 1)), atol=1e-6)
        b = create_model(f"blind:clip:{config}").encode_videos(torch.cat([x, frames(seed=5)]))
    assert torch.allclose(b, b[:1].expand_as(b))  # every video looks the same


def test_blind_shows_mid_grey_as_the_model_would_see_it():
    pre = Preprocess(size=(8, 8))
    grey = degrade(torch.zeros(1, 2, 3, 8, 8), "blind", pre.mean, pre.std)
    assert torch.allclose(grey[0, 0, :, 0, 0] * torch.tensor(pre.std) + torch.tensor(pre.mean), torch.full((3,), 0.5))


def test_controls_wrap_cross_encoders_and_keep_chance_chance():
    class Cross(CrossEncoder):
        def score(self, frames, texts):
            return frames.mean(dim=(1, 2, 3, 4))[:, None].expand(-1, len(texts))

    wrapped = wrap(Cross(), "last-frame")
    assert model_kind(wrapped) == "cross" and wrapped.name == "last-frame:cross-encoder"
    x = frames()
    assert torch.allclose(wrapped.score(x, ["a"]), Cross().score(x[:, -1:].expand_as(x), ["a"]))
    blind_chance = create_model("blind:chance")
    probes = [Probe("p1", "video_reversal", "c", "t", None, None)]
    assert torch.equal(blind_chance.score_probes(probes), ChanceModel().score_probes(probes))


def test_models_command_lists_names_descriptions_and_weights():
    from typer.testing import CliRunner

    import actionbench.cli.evaluation  # noqa: F401  (registers the commands)
    from actionbench.cli import app

    result = CliRunner().invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in ("chance", "clip:<...>", "first-frame:<...>", "last-frame:<...>", "blind:<...>", "random init"):
        assert text in result.output
