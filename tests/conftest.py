"""Shared fixtures: where the real test assets are, and how a missing one is reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Subprocesses (the CLI under test) find models and clips through this too.
os.environ.setdefault("ONSIGHT_ASSETS", str(REPO.parent / "shared" / "assets"))


def assets_dir() -> Path:
    return Path(os.environ["ONSIGHT_ASSETS"])


def require(path: Path, what: str) -> Path:
    """Return `path`, or fail in CI / skip elsewhere, saying what to install."""
    if not path.exists():
        message = f"{what} not found at {path}; set ONSIGHT_ASSETS to the shared assets folder"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def video() -> object:
    def _video(name: str) -> Path:
        return require(assets_dir() / "video" / name, f"sample video {name}")

    return _video
