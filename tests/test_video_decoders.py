"""decord is optional (wheels only for x86-64 Linux and Windows): PyAV must give the very same frames, and the
package must not require decord where it cannot be installed."""

from __future__ import annotations

import subprocess
import sys
from email.parser import Parser
from pathlib import Path

import av  # noqa: F401  (before decord: decord bundles an older libvpx that breaks PyAV's VP9 encoder)
import numpy as np
import pytest
from packaging.requirements import Requirement

from actionbench import video
from actionbench.datasets.ego4d import read_egoclip
from actionbench.datasets.mini import generate_mini
from actionbench.datasets.ssv2 import read_ssv2
from actionbench.video import FrameSpec, read_frames, resolve_video

REPO = Path(__file__).resolve().parents[1]

# marker environments of the platforms a user installs on (PEP 508 names, as pip reports them)
PLATFORMS = {
    "macOS arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64", "os_name": "posix"},
    "macOS x86-64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "x86_64", "os_name": "posix"},
    "Linux aarch64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64", "os_name": "posix"},
    "Linux x86-64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"},
    "Windows x86-64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64", "os_name": "nt"},
}
DECORD_WHEELS = {"Linux x86-64", "Windows x86-64"}  # decord 0.6.0 on PyPI: manylinux2010_x86_64, win_amd64 (py3)


@pytest.fixture(scope="module")
def requires_dist(tmp_path_factory: pytest.TempPathFactory) -> list[Requirement]:
    """The Requires-Dist lines of the wheel's METADATA, as the build backend writes them."""
    out = tmp_path_factory.mktemp("metadata")
    code = ("import sys, setuptools.build_meta as b; "
            "print(b.prepare_metadata_for_build_wheel(sys.argv[1]))")
    name = subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]
    metadata = Parser().parsestr((out / name / "METADATA").read_text(encoding="utf-8"))
    return [Requirement(r) for r in metadata.get_all("Requires-Dist")]


def _install_set(requirements: list[Requirement], platform: dict[str, str]) -> set[str]:
    env = {**platform, "extra": ""}
    return {r.name.lower() for r in requirements if r.marker is None or r.marker.evaluate(env)}


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_the_wheel_requires_decord_only_where_decord_has_wheels(requires_dist: list[Requirement], platform: str) -> None:
    names = _install_set(requires_dist, PLATFORMS[platform])
    assert {"torch", "av", "numpy"} <= names  # PyAV everywhere
    assert ("decord" in names) == (platform in DECORD_WHEELS), platform


def test_macos_arm64_and_aarch64_linux_install_no_decord(requires_dist: list[Requirement]) -> None:
    for platform in ("macOS arm64", "Linux aarch64"):
        assert "decord" not in _install_set(requires_dist, PLATFORMS[platform])


# ---- the same frames ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini_clips(tmp_path_factory: pytest.TempPathFactory):
    info = generate_mini(tmp_path_factory.mktemp("mini") / "data", seed=0, size="tiny")
    clips = [(info.ssv2_videos, c) for split in ("train", "val") for c in read_ssv2(info.ssv2_root, split).clips]
    clips += [(info.ego4d_videos, c) for c in read_egoclip(info.ego4d_root / "egoclip.jsonl", split="all").clips]
    return clips


def test_pyav_gives_the_same_sampled_frames_as_decord_on_the_mini_videos(mini_clips) -> None:
    pytest.importorskip("decord")
    spec = FrameSpec()
    windows = 0
    for root, clip in mini_clips:
        path = resolve_video(root, clip.video)
        by_decord = video._read_decord(path, spec, clip.start, clip.end)
        by_pyav = video._read_pyav(path, spec, clip.start, clip.end)
        assert by_decord.shape == by_pyav.shape == (spec.num_frames, 64, 64, 3), path
        np.testing.assert_array_equal(by_decord, by_pyav, err_msg=str(path))
        windows += clip.start is not None
    assert windows > 0 and len(mini_clips) > windows  # Ego4D windows inside longer videos and whole SSv2 files


def test_without_decord_frames_come_from_pyav_and_results_say_so(mini_clips, monkeypatch: pytest.MonkeyPatch) -> None:
    root, clip = mini_clips[0]
    path = resolve_video(root, clip.video)
    with_decord, _ = read_frames(path, FrameSpec(), clip.start, clip.end)
    monkeypatch.setattr(video, "_decord", lambda: None)
    frames, decoder = read_frames(path, FrameSpec(), clip.start, clip.end)
    assert decoder == video.decoder_name() == f"pyav-{av.__version__}"
    np.testing.assert_array_equal(frames, with_decord)
    with pytest.raises(video.VideoError, match="not found"):
        read_frames(path.with_name("nope.webm"), FrameSpec())
