"""Seeded mutations of short sample clips, for the ingest fuzzer.

`prepare_clips` cuts the shared sample clips to their first second or two (stream copy,
no re-encoding) in the formats cameras and NVR exports use: AVI, MP4, Matroska, MPEG-TS
and GIF. `mutate_case` damages one of them the way disks, networks and careless copies
do: bit flips, runs of one byte, truncation, damage to the header and index (both ends
of the file: MP4 writes its index at the end), "interesting" integers written over size
and dimension fields, and swapped chunks. The same seed and case number always give the
same bytes, so a failing case can be replayed on its own.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

# source clip in the shared assets, output name, muxer, seconds kept, muxer options
_CLIPS: tuple[tuple[str, str, str, float, dict[str, str]], ...] = (
    ("vtest_480x360.avi", "vtest.avi", "avi", 2.0, {}),
    ("bottle-detection.mp4", "bottle.mp4", "mp4", 2.0, {}),
    ("car-detection.mp4", "car.mp4", "mp4", 1.0, {"movflags": "+faststart"}),  # index first
    ("vtest_480x360.avi", "vtest.mkv", "matroska", 2.0, {}),
    ("vtest_480x360.avi", "vtest.ts", "mpegts", 2.0, {}),
    ("bottle-detection.mp4", "bottle.h264", "h264", 1.0, {}),  # a bare H.264 stream
    ("people-detection.gif", "people.gif", "gif", 0.5, {}),
)
_EDGE = 4096  # bytes at each end of a file where headers and indexes live
_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def cut_clip(
    src: Path, dst: Path, muxer: str, seconds: float, options: dict[str, str] | None = None
) -> None:
    """Copy the video packets of the first `seconds` of `src` into `dst` (no re-encoding)."""
    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        with av.open(str(dst), "w", format=muxer, options=options or {}) as out:
            copy = out.add_stream_from_template(stream)
            for packet in inp.demux(stream):
                if packet.dts is None:  # the flush packet at the end
                    continue
                base = stream.time_base
                if packet.pts is not None and base is not None and packet.pts * base >= seconds:
                    break
                packet.stream = copy
                out.mux(packet)


def prepare_clips(videos: Path, out_dir: Path) -> list[Path]:
    """The short base clips, made once into `out_dir` (reused if already there)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    for source, name, muxer, seconds, options in _CLIPS:
        path = out_dir / name
        if not path.exists():
            partial = path.with_suffix(".part" + path.suffix)
            cut_clip(videos / source, partial, muxer, seconds, options)
            partial.replace(path)
        clips.append(path)
    return clips


def _span(data: bytearray, rng: random.Random, longest: int) -> tuple[int, int]:
    """A random (start, length) inside `data`, length 1..longest."""
    length = rng.randint(1, max(1, min(longest, len(data))))
    return rng.randrange(len(data) - length + 1), length


def _edge_position(data: bytearray, rng: random.Random) -> int:
    """A position in the first or last `_EDGE` bytes."""
    edge = min(_EDGE, len(data))
    offset = rng.randrange(edge)
    return offset if rng.random() < 0.5 else len(data) - 1 - offset


def bit_flips(data: bytearray, rng: random.Random) -> str:
    count = rng.choice((1, 1, 2, 4, 8, 32))
    for _ in range(count):
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)
    return f"bit_flips({count})"


def byte_run(data: bytearray, rng: random.Random) -> str:
    start, length = _span(data, rng, rng.choice((4, 64, 512, 4096)))
    value = rng.choice((0x00, 0xFF, None))
    fill = rng.randbytes(length) if value is None else bytes([value]) * length
    data[start : start + length] = fill
    return f"byte_run(at={start}, len={length}, value={'random' if value is None else value})"


def truncate(data: bytearray, rng: random.Random) -> str:
    # half the cuts fall in the header, where demuxers do most of their parsing
    keep = rng.randrange(min(len(data), _EDGE)) if rng.random() < 0.5 else rng.randrange(len(data))
    del data[keep:]
    return f"truncate({keep})"


def header(data: bytearray, rng: random.Random) -> str:
    count = rng.randint(1, 16)
    for _ in range(count):
        data[_edge_position(data, rng)] = rng.randrange(256)
    return f"header({count} bytes)"


def interesting(data: bytearray, rng: random.Random) -> str:
    """An extreme integer over a size, count or dimension field near either end."""
    size, fmt = rng.choice(((1, "B"), (2, "H"), (4, "I")))
    order = rng.choice("<>")
    value = rng.choice(_INTERESTING) & ((1 << (8 * size)) - 1)
    pos = min(_edge_position(data, rng), len(data) - size)
    data[pos : pos + size] = struct.pack(order + fmt, value)
    return f"interesting(at={pos}, {order}{fmt}={value:#x})"


def chunk_swap(data: bytearray, rng: random.Random) -> str:
    length = rng.randint(1, max(1, min(4096, len(data) // 2)))
    first = rng.randrange(len(data) - 2 * length + 1)
    second = rng.randrange(first + length, len(data) - length + 1)
    a, b = bytes(data[first : first + length]), bytes(data[second : second + length])
    data[first : first + length], data[second : second + length] = b, a
    return f"chunk_swap({first}<->{second}, len={length})"


MUTATORS: tuple[Callable[[bytearray, random.Random], str], ...] = (
    bit_flips,
    byte_run,
    truncate,
    header,
    interesting,
    chunk_swap,
)


@dataclass(frozen=True)
class Case:
    index: int
    clip: Path
    data: bytes
    description: str


def mutate_case(clips: list[Path], seed: int, index: int) -> Case:
    """Case `index` of run `seed`: a base clip with one to three mutations."""
    rng = random.Random(f"onsight-fuzz:{seed}:{index}")
    clip = clips[index % len(clips)]
    data = bytearray(clip.read_bytes())
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if len(data) < 2:
            break
        done.append(rng.choice(MUTATORS)(data, rng))
    return Case(index, clip, bytes(data), " + ".join(done))
