"""After `make demo` (which runs `onsight models install`), the installed `onsight` works from
a fresh shell with no ONSIGHT_ASSETS: it finds its detection and face models in the user's
cache. And `onsight --help` does not import video decoding, detection or tracking."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import assets_dir

ONSIGHT = Path(sys.executable).with_name("onsight")  # the console script pip installed


def test_the_installed_onsight_finds_its_models_from_a_fresh_shell(
    tmp_path: Path, video: Callable[[str], Path]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    fresh = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # nothing else
    refused = subprocess.run(
        [str(ONSIGHT), "models", "verify"], env=fresh, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1 and "not found" in refused.stderr  # not installed yet
    install = subprocess.run(  # the step `make demo` runs
        [str(ONSIGHT), "models", "install", "--from", str(assets_dir() / "models")],
        env=fresh, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    config = tmp_path / "site.yaml"
    config.write_text(
        f"cameras:\n  - name: square\n    url: {video('vtest_480x360.avi')}\n", encoding="utf-8"
    )
    shell = f"'{ONSIGHT}' models verify && '{ONSIGHT}' check '{config}'"
    done = subprocess.run(
        ["/bin/bash", "-c", shell], env=fresh, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok" in done.stdout and str(home / ".cache" / "onsight" / "models") in done.stdout


def test_help_imports_no_video_detection_or_tracking() -> None:
    """What makes `onsight --help` slow: it must stay light (time is measured in `make
    bench`, not here)."""
    probe = (
        "import sys, onsight.cli; "
        "print(' '.join(m for m in ('av', 'cv2', 'onnxruntime', 'supervision', 'scipy', "
        "'fastapi', 'onsight.runtime.pipeline') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "", loaded.stdout
