"""Shared fixtures: the genuine annotation samples live in ../shared beside the checkout (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return path


@pytest.fixture(scope="session")
def real_ssv2(shared_data: Path) -> Path:
    path = shared_data / "real" / "ssv2"
    if not (path / "validation.json").is_file():
        pytest.skip("genuine SSv2 sample absent")
    return path


@pytest.fixture(scope="session")
def real_ego4d(shared_data: Path) -> Path:
    path = shared_data / "real" / "ego4d"
    if not (path / "egoclip_subset.jsonl").is_file():
        pytest.skip("genuine Ego4D sample absent")
    return path
