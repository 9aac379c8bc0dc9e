"""`onsight run` with a `ppe:` section on real footage: hi-vis on the worker-zone clip's
stills, masks on the walking clip's faces, and the share released only from 5 people."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import cv2
import yaml

from tests.conftest import assets_dir, require

ONSIGHT = [sys.executable, "-m", "onsight.cli"]


def _frames(name: str, every: int, count: int) -> list[Any]:
    clip = require(assets_dir() / "video" / name, f"sample clip {name}")
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    return frames[::every][:count]


def _run(
    tmp_path: Path, frames: list[Any], ppe: dict[str, object], width: int = 640
) -> tuple[dict[str, Any], Path]:
    """Run the stills as a camera; its `--summary` section and the event database."""
    tmp_path.mkdir(exist_ok=True)
    stills = tmp_path / "stills"
    stills.mkdir()
    for number, frame in enumerate(frames):
        cv2.imwrite(str(stills / f"shot_{number:03d}.png"), frame)  # type: ignore[arg-type]
    camera = {"name": "yard", "url": str(stills), "fps": 1, "width": width, "purpose": "safety"}
    config = {"cameras": [camera | {"ppe": ppe}]}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    summary = tmp_path / "summary.json"
    result = subprocess.run(
        [*ONSIGHT, "run", str(path), "--summary", str(summary)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    camera = json.loads(summary.read_text(encoding="utf-8"))["cameras"]["yard"]
    return camera, tmp_path / "onsight-data" / "onsight.db"


def test_hivis_on_the_worker_zone_stills_is_released_from_five_sightings(tmp_path: Path) -> None:
    """The clip's one worker wears an orange vest in every frame: six stills are six
    sightings, all wearing it, so the hour's share is 1.0."""
    camera, database = _run(tmp_path, _frames("worker-zone-detection.gif", 12, 6), {"hivis": True})
    assert camera["hivis"] == {"people": 6, "wearing": 6, "share": 1.0}
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT scope, equipment, seen, compliant, share FROM ppe_hours"
        ).fetchall()
    assert rows == [("camera", "hivis", 6, 6, 1.0)]


def test_fewer_than_five_are_never_released(tmp_path: Path) -> None:
    camera, database = _run(tmp_path, _frames("worker-zone-detection.gif", 12, 4), {"hivis": True})
    assert camera["hivis"] == {"people": 4, "wearing": 4, "share": None}
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM ppe_hours").fetchone() == (0,)


def test_masks_on_the_walking_faces(tmp_path: Path) -> None:
    """Nobody in the walking clip wears a mask: every face read is unmasked. The clip is
    480 px wide, its faces 12-23 px: shown 3x larger, as a closer camera would see them."""
    frames = [
        cv2.resize(frame, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
        for frame in _frames("face-demographics-walking.gif", 4, 8)
    ]
    camera, database = _run(tmp_path, frames, {"masks": True}, width=1440)
    ppe = camera["ppe"]
    assert ppe["faces"] >= 5 and ppe["masked"] == 0 and ppe["mask_share"] == 0.0, ppe
    with sqlite3.connect(database) as db:
        (row,) = db.execute("SELECT equipment, seen, compliant FROM ppe_hours").fetchall()
    assert row == ("mask", ppe["faces"], 0)


def test_check_warns_when_the_scene_itself_is_hi_vis_coloured(tmp_path: Path) -> None:
    """The worker-zone scene is fine; the same scene with its walls and floor painted
    fluorescent yellow is not (a yellow hall: every torso in front of it would read hi-vis)."""
    (frame,) = _frames("worker-zone-detection.gif", 1, 1)
    yellow = frame.copy()
    yellow[:, :] = (40, 235, 215)  # BGR fluorescent yellow-green, everywhere
    for name, image in (("plain", frame), ("yellow", yellow)):
        folder = tmp_path / name
        folder.mkdir()
        cv2.imwrite(str(folder / "scene.png"), image)
        camera = {"name": name, "url": str(folder), "fps": 1, "purpose": "safety",
                  "ppe": {"hivis": True}}  # fmt: skip
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({"cameras": [camera]}), encoding="utf-8")
        result = subprocess.run(
            [*ONSIGHT, "check", str(config)], capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        warned = "hi-vis-coloured (a yellow or orange wall" in result.stderr
        assert warned == (name == "yellow"), (name, result.stdout, result.stderr)
