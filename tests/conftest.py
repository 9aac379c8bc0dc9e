"""Shared fixtures: where the real test assets are, and how a missing one is reported."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from tests.conveyor import ClipCache

REPO = Path(__file__).resolve().parent.parent
# Subprocesses (the CLI under test) find models and clips through this too.
os.environ.setdefault("ONSIGHT_ASSETS", str(REPO.parent / "shared" / "assets"))


def assets_dir() -> Path:
    return Path(os.environ["ONSIGHT_ASSETS"])


def vtest_calibration() -> dict[str, Any]:
    """The vtest clip's real ground-plane calibration as a config section (image points
    normalised, ground in metres), read from the shared assets: it is PETS2009-derived, for
    tests only, and never copied into the repository."""
    path = require(
        assets_dir() / "calibration" / "pets09_view001_homography.json", "vtest calibration"
    )
    points = json.loads(path.read_text(encoding="utf-8"))["correspondences"]
    return {
        "image": [[p["px_480x360"][0] / 480, p["px_480x360"][1] / 360] for p in points],
        "ground": [p["ground_m"] for p in points],
    }


def missing(message: str) -> NoReturn:
    """A required asset or service is missing: the test fails (never skips) and says what
    to install."""
    pytest.fail(message, pytrace=False)


def require(path: Path, what: str) -> Path:
    """Return `path`, or fail saying what to install."""
    if not path.exists():
        missing(f"{what} not found at {path}; set ONSIGHT_ASSETS to the shared assets folder")
    return path


@pytest.fixture
def video() -> object:
    def _video(name: str) -> Path:
        return require(assets_dir() / "video" / name, f"sample video {name}")

    return _video


@pytest.fixture(scope="session")
def conveyor_clips(tmp_path_factory: pytest.TempPathFactory) -> ClipCache:
    """The session's generated conveyor clips, each made once (see `ClipCache`)."""
    from tests.conveyor import ClipCache

    return ClipCache(tmp_path_factory.mktemp("conveyor-clips"))
