"""Shared fixtures: the genuine annotation samples in ../shared beside the checkout, and the default-size mini
benchmark generated once per test run (shared by the xdist workers)."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _absent(what: str) -> None:
    """Skip on a developer's machine; fail in CI, where the samples must be present."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what}: CI must have ../shared/data beside the checkout")
    pytest.skip(what)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        _absent("../shared/data is not beside this checkout")
    return path


@pytest.fixture(scope="session")
def real_ssv2(shared_data: Path) -> Path:
    path = shared_data / "real" / "ssv2"
    if not (path / "validation.json").is_file():
        _absent("genuine SSv2 sample absent")
    return path


@pytest.fixture(scope="session")
def real_ego4d(shared_data: Path) -> Path:
    path = shared_data / "real" / "ego4d"
    if not (path / "egoclip_subset.jsonl").is_file():
        _absent("genuine Ego4D sample absent")
    return path


@pytest.fixture(scope="session")
def mini_default(tmp_path_factory: pytest.TempPathFactory):
    """The default-size mini benchmark (seed 0), generated once per test run: under pytest-xdist the first
    worker to take the lock writes it into the run's shared temporary folder, the others wait and reuse it."""
    from actionbench.datasets.mini import MiniInfo, generate_mini

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by every worker of this run
    folder, done = root / "mini-default", root / "mini-default.json"
    with open(root / "mini-default.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.is_file():
                info = generate_mini(folder, seed=0, size="default")
                done.write_text(json.dumps({"counts": info.counts, "seconds": info.seconds}), encoding="utf-8")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    record = json.loads(done.read_text(encoding="utf-8"))
    return MiniInfo(folder, folder / "ssv2", folder / "ego4d", 0, "default", record["counts"], record["seconds"])
