"""Damaged files through `VideoSource` (issue 16): frames where the file allows, else one
`SourceError` line naming the camera; never another exception."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from onsight.errors import SourceError
from onsight.ingest import VideoSource
from tests.fuzz.mutate import cut_clip


@pytest.fixture
def clip(video: Callable[[str], Path], tmp_path: Path) -> Path:
    """The first 4 s of the vtest clip (40 frames at 10 fps)."""
    path = tmp_path / "clip.avi"
    cut_clip(video("vtest_480x360.avi"), path, "avi", 4.0)
    return path


def _frames(path: Path) -> int:
    return sum(1 for _ in VideoSource("door", str(path), 100).frames())


def test_undecodable_metadata_text_does_not_end_a_camera(clip: Path, tmp_path: Path) -> None:
    titled = tmp_path / "titled.mkv"
    with av.open(str(clip)) as inp, av.open(str(titled), "w") as out:
        out.metadata["title"] = "TITLE-OF-THE-CLIP"
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.dts is not None:
                packet.stream = copy
                out.mux(packet)
    data = titled.read_bytes()
    at = data.index(b"TITLE-OF-THE-CLIP")
    damaged = tmp_path / "damaged.mkv"
    damaged.write_bytes(data[:at] + b"\xff\xfe\xfd" + data[at + 3 :])
    with pytest.raises(UnicodeDecodeError):  # what ended the camera in issue 16
        av.open(str(damaged))
    assert _frames(damaged) == _frames(titled) > 30


def test_bit_flips_mid_file_lose_a_few_frames_not_the_rest(clip: Path, tmp_path: Path) -> None:
    data = bytearray(clip.read_bytes())
    clean = _frames(clip)
    rng = random.Random(16)
    for _ in range(8):
        data[rng.randrange(len(data) // 3, len(data) * 2 // 3)] ^= 1 << rng.randrange(8)
    flipped = tmp_path / "flipped.avi"
    flipped.write_bytes(bytes(data))
    assert clean - 5 <= _frames(flipped) <= clean


def test_a_file_without_one_decodable_frame_is_one_clear_line(clip: Path, tmp_path: Path) -> None:
    data = bytearray(clip.read_bytes())
    data[4096:-4096] = bytes(len(data) - 8192)  # header and index kept, media zeroed
    zeroed = tmp_path / "zeroed.avi"
    zeroed.write_bytes(bytes(data))
    with pytest.raises(SourceError) as info:
        _frames(zeroed)
    message = str(info.value)
    assert message.startswith("camera 'door': no frame could be decoded from ")
    assert "zeroed.avi" in message and "\n" not in message
