"""`onsight check` and `onsight run` on inspection cameras: what runs, and a clear error for a
missing or damaged defect reference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ONSIGHT = [sys.executable, "-m", "onsight.cli"]
SAMPLE = Path(__file__).resolve().parents[1] / "golden" / "golden.yaml"  # any existing file


def _config(tmp_path: Path, clip: Path) -> Path:
    path = tmp_path / "line.yaml"
    path.write_text(
        f"""cameras:
  - name: line-1
    url: "{clip}"
    purpose: inspection
    inspection:
      region: [[0.0, 0.2], [1.0, 0.2], [1.0, 0.8], [0.0, 0.8]]
      travel: down
      reference: refs/line-1
    barcodes: {{formats: [QRCode]}}
""",
        encoding="utf-8",
    )
    return path


def _onsight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ONSIGHT, *args], capture_output=True, text=True, timeout=300)


def test_a_missing_reference_is_one_clear_line(tmp_path: Path) -> None:
    config = _config(tmp_path, SAMPLE)
    for command in ("check", "run"):
        done = _onsight(command, str(config))
        assert done.returncode == 1, done
        assert "Traceback" not in done.stderr
        assert "refs/line-1" in done.stderr and "line-1" in done.stderr, done.stderr


def test_a_damaged_reference_is_one_clear_line(tmp_path: Path) -> None:
    config = _config(tmp_path, SAMPLE)
    (tmp_path / "refs" / "line-1").mkdir(parents=True)
    (tmp_path / "refs" / "line-1" / "reference.json").write_text("{not json", encoding="utf-8")
    done = _onsight("check", str(config))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "inspection.reference" in done.stderr, done.stderr
