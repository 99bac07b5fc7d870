"""The model protocol: a model from the README's plugin guide and a plain class both run, or get one line naming
what is missing; and every registered model (built-ins and plug-ins) conforms (as timm's test_models.py)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from _evalkit import make_suite, write_tiny_config

import actionbench
from actionbench.models import (
    CrossEncoder,
    DualEncoder,
    ModelError,
    Preprocess,
    ProbeScorer,
    VideoTextModel,
    check_model,
    create_model,
    load_registry,
)

REPO = Path(__file__).resolve().parents[1]


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.video = torch.nn.Linear(3, 8)
        self.text = torch.nn.Embedding(64, 8)

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        w = torch.linspace(0.5, 1.5, frames.shape[1]).view(1, -1, 1)  # order-sensitive
        return (self.video(frames.mean(dim=(3, 4))) * w).mean(dim=1)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        ids = torch.tensor([[ord(c) % 64 for c in t[:24].ljust(24)] for t in texts])
        return self.text(ids).mean(dim=1)


class GuideDualEncoder(DualEncoder):
    """As the README's plugin guide writes one."""

    name = "my-dual-encoder"
    preprocess = Preprocess(size=(32, 32))
    order_invariant = False

    def __init__(self) -> None:
        self.net = _Net()

    @torch.inference_mode()
    def encode_videos(self, frames):
        return self.net.encode_video(frames)

    @torch.inference_mode()
    def encode_texts(self, texts):
        return self.net.encode_text(texts)


class PlainDualEncoder:
    """No base class: the same members, written by hand."""

    preprocess = Preprocess(size=(32, 32))

    def __init__(self) -> None:
        self.net = _Net()

    def encode_videos(self, frames):
        return self.net.encode_video(frames)

    def encode_texts(self, texts):
        return self.net.encode_text(texts)

    def similarity(self, v, t):
        return v @ t.T


class PlainWithoutPreprocess:
    def encode_videos(self, frames):
        return frames.mean(dim=(1, 3, 4))

    def encode_texts(self, texts):
        return torch.ones(len(texts), 3)


class PlainVideoOnly:
    preprocess = Preprocess(size=(32, 32))

    def encode_videos(self, frames):
        return frames.mean(dim=(1, 3, 4))


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return make_suite(tmp_path_factory.mktemp("protocol"), n_clips=2)


@pytest.mark.parametrize("model_class", [GuideDualEncoder, PlainDualEncoder])
def test_a_guide_model_and_a_plain_class_both_run(model_class, suite):
    results, frame = actionbench.evaluate(model_class(), [suite[0]], [suite[1]], cache=False)
    assert len(frame) == 6 and results["model"]["kind"] == "dual" and not results["partial"]
    assert results["results"]["ssv2"]["video_reversal"]["n"] == 2


@pytest.mark.parametrize(
    ("model", "missing"),
    [
        (PlainWithoutPreprocess(), r"no preprocess; add `preprocess = Preprocess\(size=\(224, 224\)\)`"),
        (PlainVideoOnly(), r"no encode_texts\(\) \(a dual encoder needs both; subclass actionbench.models.DualEncoder"),
        (object(), r"object is not a model: it needs encode_videos \+ encode_texts, or score"),
    ],
)
def test_an_incomplete_model_gets_one_line_naming_the_member(model, missing, suite):
    with pytest.raises(ModelError, match=missing) as err:
        actionbench.evaluate(model, [suite[0]], [suite[1]], cache=False)
    assert "\n" not in str(err.value)


def test_the_cli_names_a_missing_member_in_one_line_without_a_traceback(tmp_path, suite):
    plugin = tmp_path / "plain.py"
    plugin.write_text(
        "import torch\n\n"
        "class Plain:\n"
        "    def encode_videos(self, frames):\n        return frames.mean(dim=(1, 3, 4))\n"
        "    def encode_texts(self, texts):\n        return torch.ones(len(texts), 3)\n\n"
        "def factory():\n    return Plain()\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "actionbench", "eval", "--model", f"{plugin}:factory", "--probes", str(suite[0]),
         "--videos", str(suite[1]), "--no-cache", "--workers", "0", "--out", str(tmp_path / "out")],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    assert done.returncode != 0
    assert "no preprocess" in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_a_subclass_missing_an_abstract_method_is_refused_when_created(tmp_path):
    plugin = tmp_path / "half.py"
    plugin.write_text(
        "from actionbench.models import DualEncoder\n\n"
        "class Half(DualEncoder):\n"
        "    def encode_videos(self, frames):\n        return frames.mean(dim=(1, 3, 4))\n\n"
        "def factory():\n    return Half()\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelError, match="encode_texts") as err:
        create_model(f"{plugin}:factory")
    assert "\n" not in str(err.value)


def test_the_public_bases_declare_the_optional_hooks():
    assert VideoTextModel is DualEncoder
    assert DualEncoder.encode_videos_and_reversed is None and CrossEncoder.score_probes is None
    assert ProbeScorer.__abstractmethods__ == frozenset({"score_probes"})
    profile = check_model(GuideDualEncoder())
    assert profile.kind == "dual" and not profile.paired_reversal and not profile.by_probe
    assert check_model(create_model("chance")).by_probe


# ------------------------------------------------------------------------ every registered model conforms


def _paper_backbone(name: str, tmp: Path) -> dict:
    from test_backbones_paper import (
        SMALL_CLIPVIP,
        SMALL_INTERNVIDEO,
        SMALL_SINGULARITY,
        TINY_VOCAB,
        official_file,
        small,
    )

    model, layout, extras = small(name)
    path = tmp / f"{name}.safetensors"
    official_file(model, layout, extras, path)
    cfg = {"internvideo": SMALL_INTERNVIDEO, "clipvip": SMALL_CLIPVIP, "singularity": SMALL_SINGULARITY}[name]
    if name == "singularity":
        (tmp / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    return {"checkpoint": str(path), **asdict(cfg)}


def _how_to_build(name: str, tmp: Path) -> tuple[str, dict] | None:
    """(model name, arguments) for a tiny instance of a registered entry; None for entries that need trained
    weights a test cannot make cheaply (they must refuse without them, in one line)."""
    config = str(write_tiny_config(tmp))
    recipes = {
        "chance": lambda: ("chance", {}),
        "clip": lambda: (f"clip:{config}", {}),
        "first-frame": lambda: (f"first-frame:clip:{config}", {}),
        "last-frame": lambda: ("last-frame:chance", {}),
        "blind": lambda: (f"blind:clip:{config}", {}),
        "openclip": lambda: ("openclip", {"arch": config}),
        "internvideo": lambda: ("internvideo", _paper_backbone("internvideo", tmp)),
        "clipvip": lambda: ("clipvip", _paper_backbone("clipvip", tmp)),
        "singularity": lambda: ("singularity", _paper_backbone("singularity", tmp)),
    }
    return recipes[name]() if name in recipes else None


REGISTERED = sorted(load_registry().specs)


@pytest.mark.parametrize("name", REGISTERED)
def test_every_registered_model_conforms_to_the_protocol(name, tmp_path):
    torch.set_num_threads(1)
    recipe = _how_to_build(name, tmp_path)
    if recipe is None:  # a Paxion head or the mini backbone: it needs a checkpoint, and says so in one line
        with pytest.raises(ModelError, match="needs --checkpoint") as err:
            create_model(name, {})
        assert "\n" not in str(err.value)
        return
    model = create_model(*recipe)
    profile = check_model(model)
    h, w = model.preprocess.size
    torch.manual_seed(0)
    frames = torch.randn(2, 8, 3, h, w)
    texts = ["a person opens the door", "the door"]
    if profile.by_probe:
        from actionbench.probes.schema import Probe

        probes = [Probe(f"p{i}", "action_antonym", "c", texts[0], texts[1], None) for i in range(3)]
        scores = model.score_probes(probes)
        assert tuple(scores.shape) == (3, 2) and torch.isfinite(scores).all()
    elif profile.kind == "dual":
        with torch.inference_mode():
            v, t = model.encode_videos(frames), model.encode_texts(texts)
            s = model.similarity(v.float(), t.float())
        assert v.shape[0] == 2 and t.shape[0] == 2 and tuple(s.shape) == (2, 2) and torch.isfinite(s).all()
        if profile.order_invariant:
            with torch.inference_mode():
                back = model.encode_videos(torch.flip(frames, dims=[1]))
            assert torch.allclose(v, back, atol=1e-4)
    else:
        with torch.inference_mode():
            s = model.score(frames, texts)
        assert tuple(s.shape) == (2, 2) and torch.isfinite(s).all()
