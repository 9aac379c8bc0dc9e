"""The synthetic conveyor clip: it decodes, its truth is consistent, and every label on it
can be read by the barcode reader from frames where the item is fully visible. A damaged
label cannot be read in any frame, even at the reader's highest effort; with a camera tilted
along the belt (`perspective`) the warped truth boxes still hold each item's pixels."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from onsight.inspection.barcodes import BarcodeReader, expect_matches
from onsight.types import Image
from tests.conveyor import (
    BELT_BOTTOM,
    BELT_TOP,
    CODE_FORMATS,
    LEAD_S,
    TAIL_S,
    ClipCache,
    ItemSpec,
    TruthItem,
    ean13,
    frame_count,
    make_conveyor_clip,
    standard_items,
)

FPS = 25
W, H = 640, 480
SPEED = 200.0
MARGIN = 6  # px around an item's box in its crop, as a tracker's crop would have
EXPECT = "^40[0-9]{11}$"


@dataclass
class Clip:
    path: Path
    truth: list[TruthItem]
    frames: int = 0
    shape: tuple[int, ...] = ()
    still: dict[int, Image] = field(default_factory=dict)  # a few frames kept for checks
    # (item index, frame, effort) -> text read, or None
    reads: dict[tuple[int, int, int], str | None] = field(default_factory=dict)
    formats: set[str] = field(default_factory=set)


def _cv2_frames(path: Path) -> Iterator[Image]:
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield np.asarray(frame, dtype=np.uint8)
    finally:
        cap.release()


def _make(clips: ClipCache, hard: bool) -> Clip:
    # the session's clip: the integration tests run the pipeline on these same clips
    path, truth = clips.get(standard_items(0), fps=FPS, size=(W, H), hard=hard)
    clip = Clip(path, truth)
    reader = BarcodeReader(CODE_FORMATS)
    keep = {0, 5, round(LEAD_S * FPS) - 1}
    for fi, frame in enumerate(_cv2_frames(path)):
        clip.frames += 1
        clip.shape = frame.shape
        if fi in keep:
            clip.still[fi] = frame
        for item in truth:
            if fi not in item.full_frames:
                continue
            x1, y1, x2, y2 = item.boxes[fi]
            crop = frame[max(0, y1 - MARGIN) : y2 + MARGIN, max(0, x1 - MARGIN) : x2 + MARGIN]
            for effort in (0, 1):
                got = reader.read(crop, effort=effort)
                clip.reads[item.index, fi, effort] = None if got is None else got.text
                if got is not None:
                    clip.formats.add(got.format)
    return clip


@pytest.fixture(scope="module")
def normal(conveyor_clips: ClipCache) -> Clip:
    return _make(conveyor_clips, hard=False)


@pytest.fixture(scope="module")
def hard(conveyor_clips: ClipCache) -> Clip:
    return _make(conveyor_clips, hard=True)


@pytest.fixture(params=["normal", "hard"])
def clip(request: pytest.FixtureRequest) -> Clip:
    result: Clip = request.getfixturevalue(request.param)
    return result


def _rate(clip: Clip, item: TruthItem, effort: int) -> float:
    frames = item.full_frames
    good = sum(clip.reads[item.index, fi, effort] == item.code for fi in frames)
    return good / len(frames)


def test_standard_items() -> None:
    items = standard_items(0)
    assert 8 <= len(items) <= 12
    assert {i.format for i in items if i.format} == set(CODE_FORMATS)
    assert sum(i.code is None for i in items) == 1
    eans = [i.code for i in items if i.format == "EAN13" and i.code]
    assert all(c == ean13(c[:12]) for c in eans)  # valid check digits
    flagged = [c for c in eans if not expect_matches(EXPECT, c)]
    assert flagged == [c for c in eans if not c.startswith("40")]
    assert len(flagged) == 1
    assert all(-5 <= i.angle_deg <= 5 for i in items)
    assert standard_items(0) == items
    assert standard_items(1) != items


def test_clip_decodes_with_the_right_size_and_frame_count(clip: Clip) -> None:
    expected = frame_count(clip.truth, FPS)
    assert clip.frames == expected
    assert clip.shape == (H, W, 3)
    with av.open(str(clip.path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (W, H)
        assert stream.average_rate == FPS
        n = 0
        for frame in container.decode(stream):
            assert frame.to_ndarray(format="bgr24").shape == (H, W, 3)
            n += 1
    assert n == expected
    assert 20 * FPS <= expected <= 30 * FPS


def test_truth_timings_are_consistent(clip: Clip) -> None:
    truth = clip.truth
    assert truth[0].enter_s == pytest.approx(LEAD_S)
    assert clip.frames == math.ceil((truth[-1].exit_s + TAIL_S) * FPS)
    y0, y1 = BELT_TOP * H, BELT_BOTTOM * H
    for item in truth:
        assert item.enter_s < item.fully_visible[0] < item.fully_visible[1] < item.exit_s
        width = (item.fully_visible[0] - item.enter_s) * SPEED
        assert (item.exit_s - item.enter_s) * SPEED == pytest.approx(W + width)
        assert y0 < item.y1 < item.y2 < y1  # on the belt
        for fi in range(clip.frames):
            t = fi / FPS
            shows = item.enter_s < t < item.exit_s
            if not math.isclose(t, item.enter_s) and not math.isclose(t, item.exit_s):
                assert (fi in item.boxes) == shows, (item.index, fi)
            inside = item.fully_visible[0] <= t <= item.fully_visible[1]
            assert (fi in item.full_frames) == inside, (item.index, fi)
        for fi in item.full_frames:
            x1, _, x2, _ = item.boxes[fi]
            assert x1 >= 0 and x2 <= W
            assert x2 - x1 == pytest.approx(width, abs=1.01)
            if item.code:
                lx1, ly1, lx2, ly2 = item.label_boxes[fi]
                bx1, by1, bx2, by2 = item.boxes[fi]
                assert bx1 <= lx1 < lx2 <= bx2 and by1 <= ly1 < ly2 <= by2
    for a, b in itertools.pairwise(truth):
        assert b.enter_s > a.fully_visible[0]  # the next enters after this one is all in
    # never overlapping, at most three on the belt, none in the lead-in and tail
    for fi in range(clip.frames):
        boxes = [item.boxes[fi] for item in truth if fi in item.boxes]
        assert len(boxes) <= 3
        for i, (ax1, ay1, ax2, ay2) in enumerate(boxes):
            for bx1, by1, bx2, by2 in boxes[i + 1 :]:
                assert ax2 <= bx1 or bx2 <= ax1 or ay2 <= by1 or by2 <= ay1
        t = fi / FPS
        if t <= LEAD_S or t >= truth[-1].exit_s:
            assert not boxes


def _best_shift(a: Image, b: Image, most: int) -> int:
    """The shift in px (0 to `most`, rightwards) that best maps `a`'s column profile onto
    `b`'s, by correlation."""
    pa, pb = (x.astype(np.float32).mean(axis=(0, 2)) for x in (a, b))
    pa, pb = pa - pa.mean(), pb - pb.mean()
    n = len(pa)
    scores = [float(np.corrcoef(pa[: n - s], pb[s:])[0, 1]) for s in range(most + 1)]
    return int(np.argmax(scores))


def test_the_belt_moves_and_the_rails_do_not(clip: Clip) -> None:
    # two empty-belt frames 0.2 s apart: the belt's seams and marks have moved 40 px right,
    # which naive frame differencing sees; the rails have not moved
    a, b = clip.still[0], clip.still[5]
    y0, y1 = round(BELT_TOP * H), round(BELT_BOTTOM * H)
    moved = SPEED * 5 / FPS
    assert _best_shift(a[y0 + 4 : y1 - 4], b[y0 + 4 : y1 - 4], 80) == pytest.approx(moved, abs=1)
    diff = np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=2)
    band = diff[y0 + 4 : y1 - 4]
    static = np.concatenate([diff[: y0 - 4], diff[y1 + 4 :]])
    assert band.mean() > static.mean()
    assert (band > 12).mean() > 5 * max((static > 12).mean(), 1e-4)


def test_every_label_reads_from_a_normal_clip(normal: Clip) -> None:
    for item in normal.truth:
        if item.code is None:
            continue
        assert _rate(normal, item, 0) >= 0.6, item
        assert _rate(normal, item, 1) >= 0.95, item
    assert normal.formats == set(CODE_FORMATS)


def test_every_label_reads_at_least_once_from_a_hard_clip(hard: Clip) -> None:
    for item in hard.truth:
        if item.code is None:
            continue
        assert _rate(hard, item, 1) > 0, item
        if item.format in ("QRCode", "DataMatrix"):
            assert _rate(hard, item, 0) >= 0.9, item
    labelled = [item for item in hard.truth if item.code]
    frames = sum(len(item.full_frames) for item in labelled)
    reads = sum(_rate(hard, item, 1) * len(item.full_frames) for item in labelled)
    assert reads / frames >= 0.5


def test_no_read_is_ever_wrong(clip: Clip) -> None:
    by_index = {item.index: item for item in clip.truth}
    wrong = [
        (index, fi, effort, text)
        for (index, fi, effort), text in clip.reads.items()
        if text is not None and text != by_index[index].code
    ]
    assert not wrong
    unlabelled = [item for item in clip.truth if item.code is None]
    assert len(unlabelled) == 1
    assert unlabelled[0].full_frames


def test_an_item_too_small_for_its_label_is_refused(tmp_path: Path) -> None:
    items = [ItemSpec(ean13("400000000000"), "EAN13", 120, 120)]
    with pytest.raises(ValueError, match="too small"):
        make_conveyor_clip(tmp_path / "x.mp4", items)
    with pytest.raises(ValueError, match="format"):
        make_conveyor_clip(tmp_path / "x.mp4", [ItemSpec("X", "Aztec", 200, 200)])


# ---------------------------------------------------------------------------------------
# Damaged labels and a tilted camera

TILT = 0.25
DAMAGED_FORMATS = (
    ("EAN13", 270, 200),
    ("Code128", 310, 130),
    ("QRCode", 180, 175),
    ("DataMatrix", 175, 180),
)


def _damaged_items(seed: int) -> list[ItemSpec]:
    """One damaged label of each format, with a good EAN-13 between them."""
    rng = np.random.default_rng(seed)

    def digits(n: int) -> str:
        return "".join(str(int(d)) for d in rng.integers(0, 10, n))

    codes = {
        "EAN13": ean13("40" + digits(10)),
        "Code128": f"PKG{digits(6)}",
        "QRCode": f"ONS-{digits(8)}",
        "DataMatrix": f"SKU{digits(5)}",
    }
    items = []
    for fmt, w, h in DAMAGED_FORMATS:
        angle = float(rng.uniform(-5.0, 5.0))
        items.append(ItemSpec(codes[fmt], fmt, w, h, angle_deg=angle, damaged=True))
    items.insert(2, ItemSpec(ean13("40" + digits(10)), "EAN13", 260, 190, angle_deg=2.0))
    return items


@dataclass
class Damaged:
    truth: list[TruthItem]
    shown: dict[int, int] = field(default_factory=dict)  # item index -> frames it shows in
    reads: list[tuple[int, int, str]] = field(default_factory=list)  # (index, frame, text)
    good: dict[int, list[str | None]] = field(default_factory=dict)  # good items' reads


@pytest.fixture(scope="module", params=[(False, 0.0), (True, TILT)], ids=["plain", "hard-tilted"])
def damaged(conveyor_clips: ClipCache, request: pytest.FixtureRequest) -> Damaged:
    hard, perspective = request.param
    path, truth = conveyor_clips.get(
        _damaged_items(7), fps=FPS, seed=7, hard=hard, perspective=perspective
    )
    result = Damaged(truth)
    reader = BarcodeReader(CODE_FORMATS)
    for fi, frame in enumerate(_cv2_frames(path)):
        for item in truth:
            if fi not in item.boxes:
                continue
            x1, y1, x2, y2 = item.boxes[fi]
            crop = frame[max(0, y1 - MARGIN) : y2 + MARGIN, max(0, x1 - MARGIN) : x2 + MARGIN]
            if item.damaged:  # every frame it shows in, partly or wholly, at full effort
                result.shown[item.index] = result.shown.get(item.index, 0) + 1
                got = reader.read(crop, effort=2)
                if got is not None:
                    result.reads.append((item.index, fi, got.text))
            elif fi in item.full_frames:
                got = reader.read(crop, effort=1)
                result.good.setdefault(item.index, []).append(None if got is None else got.text)
    return result


def test_standard_items_can_add_a_damaged_label() -> None:
    for seed in (0, 1, 5):
        plain = standard_items(seed)
        items = standard_items(seed, damaged=True)
        assert standard_items(seed, damaged=False) == plain
        marked = [i for i in items if i.damaged]
        assert len(marked) == 1 and not any(i.damaged for i in plain)
        assert [i for i in items if not i.damaged] == plain  # the others are unchanged
        code = marked[0].code
        assert marked[0].format == "EAN13" and code is not None
        assert code == ean13(code[:12]) and expect_matches(EXPECT, code)
        assert code not in {i.code for i in plain}


def test_a_damaged_label_is_unreadable_in_every_frame(damaged: Damaged) -> None:
    marked = [item for item in damaged.truth if item.damaged]
    assert {item.format for item in marked} == set(CODE_FORMATS)
    for item in marked:
        assert item.code is not None
        assert item.label_boxes  # it still carries a label, only a damaged one
        assert damaged.shown[item.index] == len(item.boxes) > len(item.full_frames) > 20
    assert damaged.reads == []
    # the good label among them reads as usual, and never as a damaged one's code
    (good,) = [item for item in damaged.truth if not item.damaged]
    got = damaged.good[good.index]
    assert len(got) == len(good.full_frames)
    assert set(got) <= {good.code, None}
    assert got.count(good.code) >= 0.5 * len(got)


@pytest.fixture(scope="module")
def tilted(conveyor_clips: ClipCache) -> Clip:
    """A normal clip of the standard items with a damaged label, seen by a tilted camera;
    its frames kept (in `still`) and its labels read at effort 1 in full frames. (The
    session's clip: `onsight run` runs on it in tests/integration/test_inspection_run.py.)"""
    items = standard_items(3, damaged=True)
    path, truth = conveyor_clips.get(items, fps=FPS, size=(W, H), seed=3, perspective=TILT)
    clip = Clip(path, truth)
    reader = BarcodeReader(CODE_FORMATS)
    for fi, frame in enumerate(_cv2_frames(path)):
        clip.frames += 1
        clip.shape = frame.shape
        clip.still[fi] = frame
        for item in truth:
            if fi in item.full_frames:
                x1, y1, x2, y2 = item.boxes[fi]
                crop = frame[max(0, y1 - MARGIN) : y2 + MARGIN, max(0, x1 - MARGIN) : x2 + MARGIN]
                got = reader.read(crop, effort=1)
                clip.reads[item.index, fi, 1] = None if got is None else got.text
    return clip


def _cardboard(frame: Image) -> np.ndarray:
    """Where the frame shows an item's cardboard (orange: red well above blue)."""
    b, r = frame[:, :, 0].astype(np.int16), frame[:, :, 2].astype(np.int16)
    return np.asarray(r - b > 50)


def _inside(mask: np.ndarray, box: tuple[int, int, int, int], pad: int) -> np.ndarray:
    x1, y1, x2, y2 = box
    out = np.zeros_like(mask)
    out[max(0, y1 - pad) : y2 + pad, max(0, x1 - pad) : x2 + pad] = True
    return out


def test_a_tilted_camera_keeps_each_items_pixels_inside_its_truth_box(tilted: Clip) -> None:
    pad = 2  # chroma subsampling and interpolation spread an edge by a pixel or two
    for fi, frame in tilted.still.items():
        card = _cardboard(frame)
        boxes = [item.boxes[fi] for item in tilted.truth if fi in item.boxes]
        covered = np.zeros_like(card)
        for box in boxes:
            covered |= _inside(card, box, pad)
        assert not (card & ~covered).any(), fi  # no cardboard outside every truth box
        for item in tilted.truth:
            if fi not in item.full_frames:
                continue
            x1, y1, x2, y2 = item.boxes[fi]
            assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H
            ys, xs = np.nonzero(card[y1:y2, x1:x2])
            # tight: the item's pixels reach each side of its box
            assert xs.min() <= 3 and xs.max() >= x2 - x1 - 4, (item.index, fi)
            assert ys.min() <= 3 and ys.max() >= y2 - y1 - 4, (item.index, fi)
            if item.code is not None:  # the label's white is inside its warped label box
                lx1, ly1, lx2, ly2 = item.label_boxes[fi]
                assert x1 <= lx1 < lx2 <= x2 and y1 <= ly1 < ly2 <= y2
                white = frame[y1:y2, x1:x2].min(axis=2) > 200
                wy, wx = np.nonzero(white)
                assert wx.min() + x1 >= lx1 - pad and wx.max() + x1 < lx2 + pad
                assert wy.min() + y1 >= ly1 - pad and wy.max() + y1 < ly2 + pad


def test_a_tilted_camera_shows_far_items_smaller_and_reads_their_labels(tilted: Clip) -> None:
    for item in tilted.truth:
        first, last = item.full_frames[0], item.full_frames[-1]
        near, far = item.boxes[first], item.boxes[last]
        # entering (near, left) against leaving (far, right): the frame's right end shows
        # the belt at 1 - TILT of its left end's scale, less so at the items' centres
        assert far[3] - far[1] < 0.92 * (near[3] - near[1]), item.index
        assert far[2] - far[0] < 0.85 * (near[2] - near[0]), item.index
        # the same frames are full as without the tilt (the warp keeps the frame's ends)
        assert item.fully_visible[0] <= first / FPS and last / FPS <= item.fully_visible[1]
        got = [tilted.reads[item.index, fi, 1] for fi in item.full_frames]
        if item.code is None or item.damaged:
            assert got == [None] * len(got), item.index
        else:
            assert set(got) <= {item.code, None}, item.index
            assert got.count(item.code) >= 0.6 * len(got), item.index
    assert sum(item.damaged for item in tilted.truth) == 1


def test_perspective_outside_its_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="perspective"):
        make_conveyor_clip(tmp_path / "x.mp4", standard_items(0), perspective=1.0)
