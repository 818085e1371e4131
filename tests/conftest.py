"""Shared fixtures: the real data folder (../shared/data or $TEXTMIX_DATA_DIR), skipped when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path | None:
    candidates = [os.environ.get("TEXTMIX_DATA_DIR"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate, "mr", "rt-polarity.pos").is_file():
            return Path(candidate).resolve()
    return None


@pytest.fixture
def real_data(monkeypatch) -> Path:
    """The shared data folder, also exported as $TEXTMIX_DATA_DIR; skips the test when absent."""
    folder = data_dir()
    if folder is None:
        pytest.skip("real data not found: set TEXTMIX_DATA_DIR to the shared data folder (../shared/data)")
    monkeypatch.setenv("TEXTMIX_DATA_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Vector caches go to one session-wide temporary folder, never the user's ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "textmix-cache"
    monkeypatch.setenv("TEXTMIX_CACHE", str(cache))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
