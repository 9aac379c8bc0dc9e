"""Ingest: URL redaction, backoff, timestamp sampling and file sources on real videos.

A truncated file is not an error: `VideoSource` yields the frames that can be decoded,
counts damaged packets, logs a warning ("ended at 55.4 s of 139.4 s (truncated?)")
and ends like any file (a recording cut by a power loss is still worth analysing).
Only a file that cannot be opened at all, or holds no video, raises `SourceError`.
Assets come from the `video` fixture in tests/conftest.py (ONSIGHT_ASSETS).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onsight.errors import SourceError
from onsight.ingest import (
    Backoff,
    BackoffPolicy,
    FrameSampler,
    VideoSource,
    classify,
    redact_text,
    redact_url,
    url_secrets,
)
from onsight.types import Frame


@pytest.fixture
def vtest(video: Callable[[str], Path]) -> Path:
    return video("vtest_480x360.avi")


@pytest.fixture
def mp4(video: Callable[[str], Path]) -> Path:
    return video("one-by-one-person-detection.mp4")


# -- URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:secret@10.0.0.5:554/h264", "rtsp://***:***@10.0.0.5:554/h264"),
        ("rtsp://admin:p%40ss@cam.local/live", "rtsp://***:***@cam.local/live"),
        ("rtsp://admin:p@ss@cam.local/live", "rtsp://***:***@cam.local/live"),
        ("http://user:pass@host:8080/mjpg/video.mjpg", "http://***:***@host:8080/mjpg/video.mjpg"),
        ("https://user:pa:ss@host/x", "https://***:***@host/x"),
        ("rtsp://onlyuser@cam/stream", "rtsp://***@cam/stream"),
        ("rtsp://u:p%2Fq%3Fr%23%20s@cam/", "rtsp://***:***@cam/"),
        ("rtsp://u:%F0%9F%94%91@cam/", "rtsp://***:***@cam/"),
        ("rtsp://10.0.0.5/stream", "rtsp://10.0.0.5/stream"),
        ("rtsp://cam/path?contact=ops@example.com", "rtsp://cam/path?contact=ops@example.com"),
        ("/videos/door@night.mp4", "/videos/door@night.mp4"),
        ("/dev/video0", "/dev/video0"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("url", "text", "forbidden"),
    [
        (
            "rtsp://admin:secret@cam/x",
            "[Errno 1094995529] Invalid data found: 'rtsp://admin:secret@cam/x'",
            ["secret", "admin:"],
        ),
        ("rtsp://admin:p%40ss@cam/x", "auth p@ss failed for p%40ss and P%40SS", ["p@ss", "p%40ss"]),
        (
            "rtsp://a:we ird/pw@cam/",
            "got 'we ird/pw' and 'we%20ird%2Fpw' and 'we+ird%2Fpw'",
            ["ird"],
        ),
        ("http://u:%C3%A9t%C3%A9@h/", "password été rejected (%C3%A9t%C3%A9)", ["été", "%C3%A9t"]),
        ("rtsp://cam/x", "other url rtsp://bob:hunter2@nvr/1 failed", ["hunter2", "bob"]),
    ],
)
def test_redact_text(url: str, text: str, forbidden: list[str]) -> None:
    cleaned = redact_text(text, url_secrets(url))
    for word in forbidden:
        assert word.lower() not in cleaned.lower()
    assert "***" in cleaned


def test_redact_text_without_secrets_is_unchanged() -> None:
    text = "camera 'door': cannot open rtsp://10.0.0.5/live: Connection refused"
    assert redact_text(text, url_secrets("rtsp://10.0.0.5/live")) == text


@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="*\x00"),
        min_size=3,
        max_size=20,
    )
)
def test_password_never_survives_redaction(password: str) -> None:
    url = f"rtsp://viewer:{quote(password, safe='')}@192.0.2.7:554/stream"
    message = f"error opening {url}: bad password {password!r} ({quote(password)})"
    cleaned = redact_text(message, url_secrets(url))
    assert password not in cleaned
    assert quote(password, safe="") not in cleaned
    assert password not in redact_url(url).split("@")[0]


def test_url_secrets_survive_malformed_text() -> None:
    assert "p\ud800w" in url_secrets("rtsp://u:p\ud800w@cam/")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("/data/a.mp4", "file"),
        ("relative/clip.avi", "file"),
        ("file:///data/a.mp4", "file"),
        ("rtsp://cam/1", "rtsp"),
        ("RTSPS://cam/1", "rtsp"),
        ("http://cam/mjpg", "http"),
        ("https://cam/hls.m3u8", "http"),
        ("/dev/video0", "v4l2"),
        ("v4l2:///dev/video2", "v4l2"),
    ],
)
def test_classify(url: str, kind: str) -> None:
    assert classify(url) == kind


def test_classify_rejects_unknown_scheme_without_leaking() -> None:
    with pytest.raises(SourceError) as info:
        classify("rtmp://user:secret@cam/live")
    assert "secret" not in str(info.value)
    assert "rtmp" in str(info.value)


# -- backoff ---------------------------------------------------------------------------


def test_backoff_sequence_is_capped_and_resets() -> None:
    backoff = Backoff(BackoffPolicy(initial=0.5, factor=2.0, cap=5.0))
    assert [backoff.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_uses_injected_rng() -> None:
    policy = BackoffPolicy(initial=1.0, factor=3.0, cap=20.0, jitter=0.5)
    first = [Backoff(policy, random.Random(7)).next_delay() for _ in range(2)]
    assert first[0] == first[1]  # same seed, same delay
    backoff = Backoff(policy, random.Random(1))
    for attempt in range(10):
        plain = min(20.0, 3.0**attempt)
        assert plain * 0.5 <= backoff.next_delay() <= plain


def test_backoff_survives_long_outages() -> None:
    assert BackoffPolicy(initial=1.0, factor=10.0, cap=30.0).delay(10_000) == 30.0


@pytest.mark.parametrize("bad", [{"factor": 0.5}, {"jitter": 1.5}, {"initial": -1.0}])
def test_backoff_policy_validates(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(**bad)


# -- sampler ---------------------------------------------------------------------------


def _run(sampler: FrameSampler, stamps: list[float | None]) -> list[float]:
    return [t for p in stamps if (t := sampler.offer(p)) is not None]


def _check_rate(kept: list[float], fps: float, duration: float) -> None:
    gaps = np.diff(kept)
    assert np.all(gaps > 0)
    assert abs(len(kept) - duration * fps) <= 1
    assert abs(float(np.mean(gaps)) - 1 / fps) < 0.01


def test_sampler_25_to_10_fps() -> None:
    kept = _run(FrameSampler(10, 25), [i / 25 for i in range(250)])
    _check_rate(kept, 10, 10.0)
    assert np.all(np.abs(np.diff(kept) - 0.1) <= 0.02 + 1e-9)


def test_sampler_30fps_with_jitter_to_10_fps() -> None:
    rng = random.Random(3)
    stamps: list[float | None] = [i / 30 + rng.uniform(-0.004, 0.004) for i in range(600)]
    kept = _run(FrameSampler(10, 30), stamps)
    _check_rate(kept, 10, 20.0)
    assert np.all(np.abs(np.diff(kept) - 0.1) < 1 / 30 + 0.01)


def test_sampler_variable_frame_rate() -> None:
    rng = random.Random(5)
    t, stamps = 0.0, []
    for _ in range(500):
        stamps.append(t)
        t += rng.choice([1 / 60, 1 / 30, 1 / 15, 0.2])
    kept = _run(FrameSampler(5, 30), list(stamps))
    gaps = np.diff(kept)
    assert np.all(gaps > 0.2 - 2 / 60 - 1e-9)  # tolerance: half a source frame each side
    assert len(kept) <= stamps[-1] * 5 + 1
    assert np.max(gaps) < 0.2 + 0.2 + 1e-9  # never more than one source gap late


def test_sampler_without_pts_counts_frames() -> None:
    kept = _run(FrameSampler(10, 25), [None] * 250)
    _check_rate(kept, 10, 10.0)
    assert kept[0] == 0.0


def test_sampler_with_some_pts_missing() -> None:
    stamps: list[float | None] = [None if i % 7 == 3 else i / 25 for i in range(250)]
    kept = _run(FrameSampler(10, 25), stamps)
    _check_rate(kept, 10, 10.0)


def test_sampler_keeps_every_frame_of_a_slower_source() -> None:
    stamps: list[float | None] = [i / 5 for i in range(50)]
    assert _run(FrameSampler(25, 5), stamps) == stamps


def test_sampler_prefers_dts_when_pts_are_in_decode_order() -> None:
    # AVI with B-frames: PTS come in decode order, DTS are the display clock.
    pts = [1, 4, 3, 5, 2, 8, 7, 9, 6, 12, 11, 13, 10] * 1
    sampler = FrameSampler(10, 10)
    kept = [sampler.offer(p / 10, (i + 2) / 10) for i, p in enumerate(pts)]
    assert [round(t, 3) for t in kept if t is not None] == [
        round((i + 2) / 10, 3) for i in range(13)
    ]


def test_sampler_rebases_after_clock_reset() -> None:
    stamps: list[float | None] = [100 + i / 10 for i in range(30)]
    stamps += [i / 10 for i in range(30)]
    kept = _run(FrameSampler(10, 10), stamps)
    assert len(kept) == 60
    assert np.all(np.diff(kept) > 0)


def test_sampler_restart_continues_after_real_gap() -> None:
    sampler = FrameSampler(5, 10, zero_based=True)
    first = _run(sampler, [50 + i / 10 for i in range(10)])
    sampler.restart(gap_seconds=3.0)
    second = _run(sampler, [0.5 + i / 10 for i in range(10)])
    assert first[0] == 0.0
    assert second[0] == pytest.approx(0.9 + 3.0)
    assert np.all(np.diff(first + second) > 0)


@given(
    steps=st.lists(
        st.one_of(st.floats(0.001, 0.3), st.just(-0.05), st.just(-3.0), st.none()),
        min_size=1,
        max_size=120,
    ),
    fps=st.sampled_from([1.0, 2.5, 5.0, 10.0]),
    ahead=st.integers(0, 3),
    tell_decoder=st.booleans(),
)
def test_sampler_never_due_is_never_wrong(
    steps: list[float | None], fps: float, ahead: int, tell_decoder: bool
) -> None:
    """`never_due` is asked about a frame when its packet arrives, while up to `ahead`
    frames shown before it are still in the decoder (B-frames), and a frame it vouches for
    is never offered (the decoder skipped it); each such frame would have been turned away.

    Without the decoder's frames (`tell_decoder` false), whatever the stream does: jitter,
    small and large steps back, missing PTS. With them (their PTS, NaN for none, except the
    frames vouched for), on streams whose frames leave the decoder in PTS order, as a
    decoder's reordering gives them: a step back inside those few frames is the one case
    where a frame vouched for could have been due (it is then analysed a frame late)."""
    if tell_decoder:  # steps back become gaps forward
        steps = [None if step is None else abs(step) for step in steps]
    t, stamps = 10.0, []
    for step in steps:
        t = t if step is None else t + step
        stamps.append(None if step is None else t)
    sampler = FrameSampler(fps, 10)
    promised: dict[int, bool] = {}
    offered = 0

    def offer_next() -> None:
        nonlocal offered
        pts = stamps[offered]
        if promised.get(offered):
            assert copy.deepcopy(sampler).offer(pts) is None, (offered, pts)
        else:
            sampler.offer(pts)
        offered += 1

    for j, pts in enumerate(stamps):
        while offered < j - ahead:
            offer_next()
        in_decoder = [
            math.nan if (p := stamps[k]) is None else p
            for k in range(offered, j)
            if not promised.get(k)
        ]
        if pts is not None:
            promised[j] = sampler.never_due(pts, in_decoder if tell_decoder else ())
    while offered < len(stamps):
        offer_next()


def test_sampler_never_due_vouches_for_the_frames_between_grid_points() -> None:
    sampler = FrameSampler(5, 10)
    assert not sampler.never_due(0.0)  # nothing kept yet: no promise
    assert sampler.offer(0.0) == 0.0
    assert sampler.never_due(0.1)  # between 0.0 and the next grid point, 0.2
    assert not sampler.never_due(0.2) and not sampler.never_due(0.16)  # due, or within tolerance
    assert not sampler.never_due(0.0) and not sampler.never_due(-5.0)  # before: a clock reset?
    dts_clocked = FrameSampler(5, 10)
    for i, p in enumerate([1, 4, 3, 5, 2]):  # AVI: PTS in decode order, DTS the clock
        dts_clocked.offer(p / 10, (i + 2) / 10)
    assert not dts_clocked.never_due(0.7)


@pytest.mark.parametrize("fps", [0, -1, float("nan"), float("inf")])
def test_sampler_rejects_bad_fps(fps: float) -> None:
    with pytest.raises(ValueError):
        FrameSampler(fps)


# -- file sources ----------------------------------------------------------------------


def test_file_source_samples_by_timestamp(vtest: Path) -> None:
    source = VideoSource("door", str(vtest), 5)
    frames = list(source.frames())
    assert 395 <= len(frames) <= 400  # 795 frames at 10 fps, analysed at 5 fps
    assert [f.index for f in frames] == list(range(len(frames)))
    pts = np.array([f.pts for f in frames])
    assert np.all(np.diff(pts) > 0)
    assert np.allclose(np.diff(pts), 0.2, atol=0.05)
    first = frames[0]
    assert first.image.shape == (360, 480, 3) and first.image.dtype == np.uint8
    assert first.camera == "door" and first.wall_time.tzinfo is not None
    stats = source.stats
    assert stats.frames_decoded == 795 and stats.frames_sampled == len(frames)
    assert (stats.width, stats.height, stats.source_fps) == (480, 360, 10.0)
    assert stats.duration_seconds == pytest.approx(79.7, abs=0.5)
    assert not stats.connected and stats.decode_errors == 0


@pytest.mark.parametrize("threads", ["NONE", "AUTO"])  # AUTO: FFmpeg's frame threads (> 1080p)
@pytest.mark.parametrize(("fps", "most_decoded"), [(10, 1394), (5, 900), (2, 750)])
def test_frames_left_undecoded_change_nothing_analysed(
    mp4: Path, fps: float, most_decoded: int, threads: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the source rate the decoder skips the B-frames nothing refers to and the sampler
    would turn away: the frames analysed are the very frames, pixels and times, of a decode
    of every frame (the 10 fps mp4 has three B-frames in four; at 10 fps nothing is skipped).
    The AVI's clock is its DTS, so it is decoded whole (test above)."""
    import av

    expected = []
    sampler = FrameSampler(fps)
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        sampler.set_source_rate(float(stream.average_rate or 0))
        for decoded in container.decode(stream):
            t = sampler.offer(float(decoded.pts * decoded.time_base))
            if t is not None:
                expected.append((t, decoded.to_ndarray(format="yuv420p")))
    monkeypatch.setattr("onsight.ingest.source._threading", lambda stream: threads)
    source = VideoSource("aisle", str(mp4), fps, width=768)
    frames = list(source.frames())
    assert [f.pts for f in frames] == [t for t, _ in expected]
    assert all(np.array_equal(f.pixels, e) for f, (_, e) in zip(frames, expected, strict=True))
    assert source.stats.frames_decoded <= most_decoded
    assert source.stats.frames_sampled == len(frames) and source.stats.decode_errors == 0


def _skipper_on(sampler: FrameSampler, codec: str = "h264") -> tuple[Any, SimpleNamespace]:
    from onsight.ingest.source import _SkipUnanalysed

    context = SimpleNamespace(skip_frame="DEFAULT", name=codec)
    return _SkipUnanalysed(SimpleNamespace(codec_context=context), sampler), context  # type: ignore[arg-type]


def _packet(pts: int | None, key: bool = False, base: Fraction = Fraction(1, 10)) -> Any:
    return SimpleNamespace(pts=pts, time_base=base, is_keyframe=key)


def _decoded(pts: int | None, base: Fraction = Fraction(1, 10)) -> Any:
    return SimpleNamespace(pts=pts, dts=None, time_base=base)


@pytest.mark.parametrize("trouble", ["out of order", "no pts"])
def test_a_stream_whose_order_is_unknown_is_decoded_whole(trouble: str) -> None:
    """The skipper (10 fps sampled at 5) skips what falls between grid points, tells the
    decoder so, and stops for good at a frame out of PTS order or a packet without one."""
    sampler = FrameSampler(5, 10)
    skipper, context = _skipper_on(sampler)
    assert not skipper.before_decoding(_packet(0, key=True))
    assert sampler.offer(*skipper.came_out(_decoded(0))) == 0.0
    assert skipper.before_decoding(_packet(1)) and context.skip_frame == "NONREF"
    assert not skipper.before_decoding(_packet(2)) and context.skip_frame == "DEFAULT"
    assert sampler.offer(*skipper.came_out(_decoded(2))) == pytest.approx(0.2)
    if trouble == "out of order":
        skipper.came_out(_decoded(1))
    else:
        skipper.before_decoding(_packet(None))
    assert not any(skipper.before_decoding(_packet(n)) for n in (3, 5, 7, 9))
    assert context.skip_frame == "DEFAULT"


def test_other_codecs_and_overfull_decoders_are_decoded_whole() -> None:
    sampler = FrameSampler(5, 10)
    hevc, _ = _skipper_on(sampler, codec="hevc")
    sampler.offer(0.0)
    assert not hevc.before_decoding(_packet(1))  # H.264 would skip it (previous test)
    h264, _ = _skipper_on(sampler)
    for n in range(2, 66, 2):  # 32 frames (all due) sent, none out: the queue is lost
        h264.before_decoding(_packet(n))
    assert not h264.before_decoding(_packet(1))


def test_frames_in_the_decoder_let_more_be_skipped() -> None:
    """B-frames: the packet of frame 3 arrives while frame 2 is still in the decoder; frame
    2 will be analysed first, so 3 (before the next grid point, 4) need not be decoded."""
    sampler = FrameSampler(5, 10)
    skipper, _ = _skipper_on(sampler)
    skipper.before_decoding(_packet(0, key=True))
    sampler.offer(*skipper.came_out(_decoded(0)))
    assert not skipper.before_decoding(_packet(4))  # P: shown after 1, 2, 3
    assert not skipper.before_decoding(_packet(2))  # due
    assert skipper.before_decoding(_packet(1))
    assert skipper.before_decoding(_packet(3))  # 2 is in the decoder: 3 is not due
    alone = FrameSampler(5, 10)
    alone.offer(0.0)
    assert not alone.never_due(0.3)  # without it, 3 could be due


@given(
    frames=st.lists(
        st.tuples(st.integers(1, 300), st.booleans()),  # (ms after the previous, reference?)
        min_size=1,
        max_size=150,
    ),
    fps=st.sampled_from([1.0, 2.5, 5.0, 10.0]),
)
def test_skipping_keeps_the_frames_and_times_of_a_whole_decode(
    frames: list[tuple[int, bool]], fps: float
) -> None:
    """A model decoder: B-frames (non-reference) arrive after the reference frame shown
    after them, a skip request drops a B-frame and not a reference frame, and frames come
    out in PTS order once everything shown before them was sent. Driven by the real
    skipper, the sampler keeps exactly the frames, at exactly the times, that it keeps when
    offered every frame."""
    pts, t = [], 0
    for gap, _ in frames:
        t += gap
        pts.append(t)
    is_ref = [True] + [ref for _, ref in frames[1:]]
    order: list[int] = []  # decode order: a reference frame, then the B-frames before it
    waiting: list[int] = []
    for i in range(len(pts)):
        if is_ref[i]:
            order += [i, *waiting]
            waiting = []
        else:
            waiting.append(i)
    order += waiting

    whole = FrameSampler(fps, 10)
    expected = [k for p in pts if (k := whole.offer(p / 1000)) is not None]
    sampler = FrameSampler(fps, 10)
    skipper, context = _skipper_on(sampler)
    sent: set[int] = set()
    shown = 0
    kept = []
    for i in order:
        skip = skipper.before_decoding(_packet(pts[i], key=i == 0, base=Fraction(1, 1000)))
        assert context.skip_frame == ("NONREF" if skip else "DEFAULT")
        sent.add(i)
        if skip and not is_ref[i]:
            pts[i] = -1  # dropped by the decoder: never comes out
        while shown < len(pts) and shown in sent:
            if pts[shown] >= 0:
                stamps = skipper.came_out(_decoded(pts[shown], base=Fraction(1, 1000)))
                if (k := sampler.offer(*stamps)) is not None:
                    kept.append(k)
            shown += 1
    assert kept == expected


def test_file_source_resizes_keeping_aspect(vtest: Path) -> None:
    source = VideoSource("door", str(vtest), 5, width=320)
    frames = source.frames()
    images = [next(frames).image for _ in range(3)]
    assert all(i.shape == (240, 320, 3) and i.flags.c_contiguous for i in images)
    assert images[0].mean() > 20  # a real picture, not a black frame


@pytest.mark.parametrize("width", [480, 320, 296, 160])
def test_i420_frames_downscale_and_convert_like_ffmpeg(vtest: Path, width: int) -> None:
    """The source keeps camera frames as I420 and downscales them plane by plane with OpenCV:
    within about a grey level of FFmpeg's own scaler (296 wide gives a 222-row frame, whose
    chroma planes do not start on a row of the I420 array). vtest is tagged BT.709, so its
    BGR image is made by swscale with that matrix, exactly as a BGR decode would be."""
    import av

    frame = next(VideoSource("door", str(vtest), 5, width=width).frames())
    height = round(width * 360 / 480 / 2) * 2
    assert frame.pixels.ndim == 2 and frame.pixels.shape == (height * 3 // 2, width)
    assert frame.colorspace == 1  # BT.709
    with av.open(str(vtest)) as container:
        scaled = next(container.decode(video=0)).reformat(width=width, height=height)
        swscale_i420 = scaled.to_ndarray(format="yuv420p")
        swscale_bgr = scaled.to_ndarray(format="bgr24")
    scaler = np.abs(frame.pixels.astype(int) - swscale_i420.astype(int)).mean()
    assert scaler < 1.5, scaler
    colour = np.abs(frame.image.astype(int) - swscale_bgr.astype(int))
    assert frame.image.shape == (height, width, 3) and colour.mean() < 2.0, colour.mean()
    if width == 480:  # no scaling: the very pixels of a BGR decode
        assert colour.max() == 0


def test_bt601_and_untagged_i420_frames_convert_with_opencv(vtest: Path) -> None:
    import av
    import cv2

    with av.open(str(vtest)) as container:
        decoded = next(container.decode(video=0))
    i420 = decoded.to_ndarray(format="yuv420p")
    bt601 = decoded.reformat(format="bgr24", src_colorspace="ITU601").to_ndarray()
    for colorspace in (2, 5, 6):  # unspecified, BT.470BG, SMPTE 170M
        image = Frame("door", 0, 0.0, i420, datetime.now(UTC), colorspace).image
        assert np.array_equal(image, cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420))
        assert np.abs(image.astype(int) - bt601.astype(int)).mean() < 1.5  # swscale's BT.601


def test_resize_gives_even_height(mp4: Path) -> None:
    frame = next(VideoSource("aisle", str(mp4), 1, width=333).frames())
    assert frame.image.shape[1] == 333 and frame.image.shape[0] % 2 == 0


def test_gif_source(video: Callable[[str], Path]) -> None:
    gif = video("people-detection.gif")
    frames = list(VideoSource("gif", str(gif), 5).frames())
    assert len(frames) >= 5
    assert frames[0].image.shape == (270, 480, 3)
    assert np.all(np.diff([f.pts for f in frames]) > 0)


def test_truncated_file_yields_what_it_holds_and_ends(
    mp4: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = mp4.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    caplog.set_level(logging.WARNING, logger="onsight.ingest")
    source = VideoSource("door", str(cut), 10)
    frames = list(source.frames())  # must end, without raising
    assert 100 < len(frames) < 1394
    assert np.all(np.diff([f.pts for f in frames]) > 0)
    assert "camera 'door'" in caplog.text and "truncated?" in caplog.text


def test_file_url(vtest: Path) -> None:
    frame = next(VideoSource("door", vtest.as_uri(), 1).frames())
    assert frame.image.shape == (360, 480, 3)


def test_stop_event_ends_a_file_early(vtest: Path) -> None:
    stop = threading.Event()
    source = VideoSource("door", str(vtest), 5, stop=stop)
    count = 0
    for _ in source.frames():
        count += 1
        stop.set()
    assert count == 1


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("random.mp4", os.urandom(200_000), "not a video file"),
        ("notes.txt", b"shopping list\n- milk\n- eggs\n" * 40, "not a video file"),
        ("empty.mp4", b"", "cannot open"),
    ],
)
def test_bad_files_raise_one_clear_line(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError) as info:
        list(VideoSource("door", str(path), 5).frames())
    message = str(info.value)
    assert message.startswith(f"camera 'door': cannot open {path}")
    assert reason in message and "\n" not in message


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"camera 'door': cannot open .*nope\.mp4: no such file"):
        VideoSource("door", str(tmp_path / "nope.mp4"), 5).frames()


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    import av

    path = tmp_path / "tone.wav"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
    with pytest.raises(SourceError, match="no video stream"):
        VideoSource("door", str(path), 5).frames()


def test_source_repr_and_errors_hide_credentials(vtest: Path, tmp_path: Path) -> None:
    source = VideoSource("door", "rtsp://admin:s3cr%40t@192.0.2.1:554/live", 5)
    assert "s3cr" not in repr(source) and "admin" not in repr(source)
    assert source.url == "rtsp://***:***@192.0.2.1:554/live"
    # a local file whose name carries a secret-looking user-info part is still a file
    odd = tmp_path / "user:pw@clip.avi"
    shutil.copy(vtest, odd)
    assert next(VideoSource("odd", str(odd), 1).frames()).index == 0


def test_damaged_packets_are_skipped_and_counted(
    mp4: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = bytearray(mp4.read_bytes())
    rng = random.Random(11)
    for _ in range(300):  # scribble over the media data, leave the header intact
        pos = rng.randrange(len(data) // 4, len(data))
        data[pos : pos + 64] = rng.randbytes(64)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    caplog.set_level(logging.WARNING, logger="onsight.ingest")
    source = VideoSource("yard", str(damaged), 2)
    frames = list(source.frames())
    assert len(frames) > 200
    assert source.stats.decode_errors > 0
    assert "camera 'yard'" in caplog.text and "damaged packet" in caplog.text
