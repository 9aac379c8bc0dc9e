"""Still-image sources (an image file, a folder of images) and still mode (no tracking)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from onsight.cli import app
from onsight.config import Config
from onsight.config.models import CameraConfig
from onsight.detect import make_detector
from onsight.errors import SourceError
from onsight.events import EventBus
from onsight.ingest.source import VideoSource
from onsight.ingest.stills import StillSource, describe_still, open_source, still_kind
from onsight.privacy.notice import STILLS_NOTE, render_notice
from onsight.runtime import CameraPipeline
from onsight.track.stills import StillTracker
from onsight.types import Detections
from tests.conftest import assets_dir, require


def _solid(path: Path, value: int, size: tuple[int, int] = (64, 48)) -> None:
    """A lossless image of one grey level (PNG/BMP) so tests can tell files apart."""
    image = np.full((size[1], size[0], 3), value, np.uint8)
    ok, data = cv2.imencode(path.suffix, image)
    assert ok
    path.write_bytes(data.tobytes())


def _walking_stills() -> list[np.ndarray]:
    """Three frames of the walking clip, each cut to its one left-hand person."""
    gif = require(assets_dir() / "video" / "face-demographics-walking.gif", "walking clip")
    with av.open(str(gif)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    stills = []
    for index, cut in ((0, 301), (10, 275), (20, 256)):
        image = frames[index].copy()
        image[:, cut:] = 128  # blank out the second person
        stills.append(image)
    return stills


def test_a_folder_is_read_in_name_order_at_the_cameras_fps(tmp_path: Path) -> None:
    _solid(tmp_path / "shot_02.png", 200)
    _solid(tmp_path / "shot_00.png", 10)
    _solid(tmp_path / "shot_01.bmp", 100)
    (tmp_path / "notes.txt").write_text("not an image, ignored", encoding="utf-8")
    _solid(tmp_path / ".hidden.png", 50)  # hidden files are ignored too

    source = StillSource("cam", str(tmp_path), 2.0)
    assert source.kind == "directory" and not source.is_live
    frames = list(source.frames())

    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 100, 200]
    assert [f.pts for f in frames] == [0.0, 0.5, 1.0]
    assert [f.index for f in frames] == [0, 1, 2]
    stats = source.stats
    assert stats.frames_decoded == 3 and stats.decode_errors == 0
    assert stats.duration_seconds == 1.0 and not stats.connected
    assert source.stuck_seconds() == 0.0


def test_a_corrupt_image_in_a_folder_is_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _solid(tmp_path / "a.png", 10)
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    _solid(tmp_path / "c.png", 30)
    source = StillSource("cam", str(tmp_path), 4.0)
    with caplog.at_level(logging.WARNING):
        frames = list(source.frames())
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 30]
    # a skipped image keeps its place in time: c.png is the third picture
    assert [f.pts for f in frames] == [0.0, 0.5]
    assert source.stats.decode_errors == 1
    assert "1 image(s)" in caplog.text and "skipped" in caplog.text


def test_a_folder_without_images_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"camera 'cam': no images \(.*jpg.*\) in the directory"):
        StillSource("cam", str(tmp_path), 1.0, kind="directory").frames()
    (tmp_path / "readme.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(SourceError, match="no images"):
        open_source("cam", str(tmp_path), 1.0).frames()


def test_a_folder_of_only_damaged_images_fails_naming_one(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"junk")
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(SourceError, match=r"no image could be decoded .*2 damaged"):
        list(StillSource("cam", str(tmp_path), 1.0).frames())


def test_an_image_file_gives_one_downscaled_frame(tmp_path: Path) -> None:
    path = tmp_path / "door.png"
    _solid(path, 77, size=(1000, 500))
    source = open_source("cam", f"file://{path}", 5.0, width=640)
    assert isinstance(source, StillSource) and source.kind == "image"
    frames = list(source.frames())
    assert len(frames) == 1 and frames[0].pts == 0.0
    assert frames[0].image.shape == (320, 640, 3)
    assert (source.stats.width, source.stats.height) == (1000, 500)


def test_a_file_named_like_an_image_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "snap.jpg"
    path.write_text("<html>login page</html>", encoding="utf-8")
    with pytest.raises(SourceError, match=r"cannot read .*snap\.jpg: not a decodable"):
        list(StillSource("cam", str(path), 1.0).frames())
    with pytest.raises(SourceError, match="no such image file"):
        StillSource("cam", str(tmp_path / "missing.png"), 1.0).frames()


def test_sources_are_chosen_by_url(tmp_path: Path) -> None:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    assert still_kind(str(video)) is None
    assert isinstance(open_source("cam", str(video), 10.0), VideoSource)
    assert still_kind(str(tmp_path)) == "directory"
    assert still_kind("/x/Y.JPEG") == "image" and still_kind("/x/y.tif") == "image"
    assert still_kind("http://cam/snap.cgi") is None
    assert still_kind("https://u:p@cam/snap.cgi", snapshot=True) == "snapshot"
    snapshot = open_source("cam", "http://u:pw@cam/snap.cgi", 1.0, snapshot=True)
    assert isinstance(snapshot, StillSource) and snapshot.is_live
    assert "pw" not in repr(snapshot) and snapshot.url == "http://***:***@cam/snap.cgi"
    assert describe_still("http://cam/s.cgi", snapshot=True) == "snapshot URL, polled"


def test_snapshot_flag_needs_an_http_url_and_still_mode_follows_fps_and_source(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValidationError, match=r"snapshot: true needs an http\(s\):// url"):
        CameraConfig.model_validate({"name": "c", "url": "rtsp://u:secret@cam/s", "snapshot": True})
    with pytest.raises(ValidationError) as info:
        CameraConfig.model_validate({"name": "c", "url": "rtsp://u:secret@cam/s", "snapshot": 1})
    assert "secret" not in str(info.value)

    def stills(**fields: object) -> bool:
        return CameraConfig.model_validate({"name": "c", **fields}).takes_stills()

    assert stills(url="http://cam/snap.cgi", snapshot=True)
    assert stills(url=str(tmp_path))
    assert stills(url=str(tmp_path / "a.jpg"))
    assert stills(url="rtsp://cam/s", fps=1)
    assert not stills(url="rtsp://cam/s", fps=2)
    assert not stills(url="http://cam/video.mjpg")


def test_still_tracker_gives_every_detection_a_new_id() -> None:
    tracker = StillTracker()
    assert not tracker.active and not tracker.confirming
    detections = Detections(
        xyxy=np.array([[10, 10, 50, 90], [60, 10, 90, 90], [0, 0, 5, 5]], np.float32),
        confidence=np.array([0.9, 0.6, 0.2], np.float32),
        class_id=np.zeros(3, np.int64),
    )
    now = datetime(2025, 1, 1, tzinfo=UTC)
    first = tracker.update(detections, 100, 100, 0.0, now)
    second = tracker.update(detections, 100, 100, 1.0, now)
    assert len(first) == 2, "below ByteTrack's activation threshold nothing starts a track"
    again = tracker.again(second, 2.0, now)
    ids = [*first.track_id.tolist(), *second.track_id.tolist(), *again.track_id.tolist()]
    assert len(set(ids)) == 6
    np.testing.assert_array_equal(again.xyxy, second.xyxy)
    assert again.pts == 2.0


def test_a_person_in_three_stills_is_three_observations(tmp_path: Path) -> None:
    for number, image in enumerate(_walking_stills()):
        cv2.imwrite(str(tmp_path / f"still_{number}.jpg"), image)
    camera = CameraConfig.model_validate(
        {
            "name": "yard",
            "url": str(tmp_path),
            "fps": 5,
            "zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        }
    )
    pipeline = CameraPipeline(camera, make_detector(), EventBus([]))
    assert pipeline.stills and isinstance(pipeline.tracker, StillTracker)
    results = []
    pipeline.run(results.append)
    assert pipeline.finished
    per_frame = [len(r.tracks) for r in results]
    assert per_frame == [1, 1, 1], "one person in each still"
    ids = {int(i) for r in results for i in r.tracks.track_id}
    assert len(ids) == 3, "never linked across stills: three observations, not one person"


def test_check_describes_stills_and_refuses_apps_that_follow_people(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    _solid(folder / "a.png", 10)
    _solid(folder / "b.png", 20)
    config = tmp_path / "site.yaml"
    config.write_text(
        f"""\
database: {tmp_path / "db.sqlite"}
cameras:
  - name: gate
    url: {folder}
    fps: 1
    zones:
      - {{name: hall, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
  - name: snap
    url: http://viewer:${{SNAP_PASS}}@127.0.0.1:9/snapshot.cgi
    snapshot: true
    fps: 0.5
""",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["check", str(config)], env={"SNAP_PASS": "hunter2pw"})
    output = result.stdout + result.stderr
    assert result.exit_code == 0, output
    assert "folder of 2 images, in name order at 1 fps" in output
    assert "snapshot URL, polled at 0.5 fps" in output
    assert "figures count sightings, not people" in output
    assert "hunter2pw" not in output
    # a line (or a queue, a dwell time ...) needs one person followed: refused on stills
    with_line = config.read_text(encoding="utf-8").replace(
        "    zones:\n", "    lines: [{name: entrance, points: [[0.5, 0], [0.5, 1]]}]\n    zones:\n"
    )
    refused = tmp_path / "lines.yaml"
    refused.write_text(with_line, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(refused)], env={"SNAP_PASS": "hunter2pw"})
    output = result.stdout + result.stderr
    assert result.exit_code != 0 and "line_count need people followed" in output, output

    (folder / "a.png").unlink()
    (folder / "b.png").unlink()
    result = CliRunner().invoke(app, ["check", str(config)], env={"SNAP_PASS": "hunter2pw"})
    assert result.exit_code != 0
    assert "camera 'gate': url: no images" in result.stdout + result.stderr


def test_notice_says_a_still_camera_counts_sightings(tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "cameras": [
                {"name": "snap", "url": "http://cam/snap.cgi", "snapshot": True, "fps": 1},
                {"name": "door", "url": "rtsp://cam/s", "fps": 10},
            ]
        }
    )
    html = render_notice(config, datetime(2025, 1, 1, tzinfo=UTC))
    assert "this camera takes stills; figures count sightings, not people" in STILLS_NOTE.lower()
    assert html.count("figures count sightings, not people") == 1
