"""`onsight inspect learn/evaluate` end to end, in a real process: a config naming the
reference, real BSData ball-screw images (linked from ONSIGHT_ASSETS, never copied), the
JSON report, and one clear line for each thing a user can get wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from onsight.inspection.reference import WEIGHTS
from tests.conftest import assets_dir, require

INSPECT = [
    sys.executable,
    "-c",
    "from onsight.inspection.cli import inspect_app; inspect_app(prog_name='onsight inspect')",
]
POSITION = "560000_000_2"


def _inspect(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*INSPECT, *map(str, args)], capture_output=True, text=True, timeout=600)


def _config(tmp_path: Path, inspection: str | None) -> Path:
    section = f"\n    inspection: {inspection}" if inspection else ""
    path = tmp_path / "site.yaml"
    path.write_text(
        f"""cameras:
  - name: line-1
    url: "{tmp_path / "belt.mp4"}"
    purpose: inspection{section}
""",
        encoding="utf-8",
    )
    return path


def _linked(folder: Path, files: list[Path]) -> Path:
    """A folder of symlinks to the asset images (the CC BY-SA images stay where they are)."""
    folder.mkdir()
    for file in files:
        (folder / file.name).symlink_to(file)
    return folder


def _bsdata_folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """One camera position: its first 10 good frames, the other 5, and its 8 pitted ones."""
    require(assets_dir() / "models" / WEIGHTS, "inspection backbone")
    root = require(assets_dir() / "inspection" / "bsdata_ballscrew", "BSData ball-screw images")
    labels = json.loads(require(root / "labels.json", "BSData labels").read_text("utf-8"))
    mine = sorted(
        (e for e in labels["images"] if e["position"] == POSITION), key=lambda e: e["file"]
    )
    good = [require(root / e["file"], "BSData image") for e in mine if e["label"] == "good"]
    defect = [require(root / e["file"], "BSData image") for e in mine if e["label"] == "defect"]
    assert (len(good), len(defect)) == (15, 8)
    return (
        _linked(tmp_path / "good-learn", good[:10]),
        _linked(tmp_path / "good-test", good[10:]),
        _linked(tmp_path / "defect-test", defect),
    )


def test_learn_writes_the_cameras_reference_and_evaluate_reports_json(tmp_path: Path) -> None:
    learn_dir, good_dir, defect_dir = _bsdata_folders(tmp_path)
    region = "[[0, 0.2], [1, 0.2], [1, 0.8], [0, 0.8]]"
    config = _config(tmp_path, f"{{region: {region}, travel: right, reference: refs/line-1}}")
    learned = _inspect("learn", config, "--camera", "line-1", "--good", learn_dir)
    assert learned.returncode == 0, learned.stderr
    reference = tmp_path / "refs" / "line-1"  # relative to the config file's folder
    assert (reference / "bank.npy").is_file() and (reference / "reference.json").is_file()
    assert "featurised 1/10 images" in learned.stderr
    assert "featurised 10/10 images" in learned.stderr
    line = learned.stdout.strip().splitlines()[-1]
    assert line.startswith(f"learned {reference} from 10 good images: bank 2704 patches")
    threshold = float(line.rsplit("threshold ", 1)[1])
    meta = json.loads((reference / "reference.json").read_text(encoding="utf-8"))
    assert abs(meta["threshold"] - threshold) < 1e-4 and meta["images"] == 10

    report = _inspect(
        "evaluate",
        "--reference",
        reference,
        "--good",
        good_dir,
        "--defect",
        defect_dir,
        "--json",
    )
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)
    assert set(figures) == {"auroc", "false_reject_rate", "miss_rate", "threshold"}
    assert all(isinstance(v, float) for v in figures.values())
    assert figures["auroc"] >= 0.9 and figures["miss_rate"] <= 0.25
    assert figures["threshold"] == meta["threshold"]

    text = _inspect(
        "evaluate", "--reference", reference, "--good", good_dir, "--defect", defect_dir
    )
    assert text.returncode == 0, text.stderr
    assert "images: 5 good, 8 defect" in text.stdout
    assert f"AUROC: {figures['auroc']:.3f}" in text.stdout
    assert "false-reject rate:" in text.stdout and "miss rate:" in text.stdout


def _texture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:120, 0:200].astype(np.float32)
    grey = 128 + 40 * np.sin(x / 3.0) * np.sin(y / 3.0) + rng.normal(0, 6, (120, 200))
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def _error_line(run: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert run.returncode == 1, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert "Traceback" not in run.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def test_learn_with_out_and_every_user_error_is_one_line(tmp_path: Path) -> None:
    require(assets_dir() / "models" / WEIGHTS, "inspection backbone")
    good = tmp_path / "good"
    good.mkdir()
    for seed in range(3):
        cv2.imwrite(str(good / f"item-{seed}.png"), _texture(seed))
    bare = _config(tmp_path, None)

    out = tmp_path / "elsewhere" / "ref"
    learned = _inspect("learn", bare, "--camera", "line-1", "--good", good, "--out", out)
    assert learned.returncode == 0, learned.stderr
    assert "from 3 good images" in learned.stdout and (out / "bank.npy").is_file()

    _error_line(
        _inspect("learn", bare, "--camera", "line-1", "--good", good),
        "camera 'line-1' has no `inspection:` section",
        "--out",
    )
    region = "[[0, 0.2], [1, 0.2], [1, 0.8], [0, 0.8]]"
    no_ref = _config(tmp_path, f"{{region: {region}, travel: right}}")
    _error_line(
        _inspect("learn", no_ref, "--camera", "line-1", "--good", good),
        "no `reference:` path",
    )
    _error_line(
        _inspect("learn", bare, "--camera", "line-9", "--good", good, "--out", out),
        "no camera named 'line-9'",
    )
    _error_line(
        _inspect("learn", tmp_path / "nope.yaml", "--camera", "line-1", "--good", good),
    )
    _error_line(
        _inspect("learn", bare, "--camera", "line-1", "--good", tmp_path / "x", "--out", out),
        "no such directory",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    _error_line(
        _inspect("learn", bare, "--camera", "line-1", "--good", empty, "--out", out),
        "no images",
    )
    (good / "broken.jpg").write_bytes(b"not a jpeg at all")
    _error_line(
        _inspect("learn", bare, "--camera", "line-1", "--good", good, "--out", out),
        "cannot decode image",
        "broken.jpg",
    )
    (good / "broken.jpg").unlink()

    def evaluate(reference: Path, defect: Path = good) -> subprocess.CompletedProcess[str]:
        return _inspect("evaluate", "--reference", reference, "--good", good, "--defect", defect)

    _error_line(evaluate(tmp_path / "missing-ref"), "no defect reference at")
    _error_line(evaluate(good / "item-0.png"), "is not a defect reference")
    (out / "reference.json").write_text("{oops", encoding="utf-8")
    _error_line(evaluate(out), "corrupt defect reference", "reference.json")
    learned = _inspect("learn", bare, "--camera", "line-1", "--good", good, "--out", out)
    assert learned.returncode == 0, learned.stderr
    _error_line(evaluate(out, empty), "no images", str(empty))
    (out / "bank.npy").write_bytes(b"\x93NUMPY garbage")
    _error_line(evaluate(out), "corrupt defect reference", "bank.npy")
