"""A synthetic inspection-camera clip of items passing on a conveyor belt, with ground truth.

The camera looks down on a dark grey belt that fills the middle band of the frame (y from
20% to 80%, the inspection region [[0,0.2],[1,0.2],[1,0.8],[0,0.8]]) between static rails.
The belt has a fine texture and periodic seams and marks that move with it, so naive frame
differencing sees the belt move. Items are cardboard boxes of varied sizes travelling right
(entering at the left edge, leaving at the right), slightly rotated, never overlapping, at
most about three on the belt at once. Each carries a white label with a code drawn by
zxing-cpp itself, or no label. The scene has sensor noise and a slight lighting flicker; the
clip starts and ends with empty belt. `hard=True` adds motion blur along the travel, smaller
codes, stronger noise, JPEG artifacts and a darker scene.

`perspective` (0 to below 1; 0, the default, is a camera looking straight down) tilts the
camera along the belt: each frame is warped by a homography that keeps the left edge and
shrinks the right (far) edge to `1 - perspective` of its height about the belt's centre
line, so items get smaller, and move slower, as they travel away. The truth boxes are the
items' (and labels') corners mapped through the same homography.

A label may be damaged (`ItemSpec.damaged`): a linear code has a strip torn off across its
middle, showing the cardboard under it; a 2-D code has a large opaque smudge over its finder
corner and much of its data. Either way the code cannot be decoded in any frame, though the
item still shows a (damaged) label.

An item may carry a defect (`ItemSpec.defect`, one of `DEFECT_KINDS`): a stain, a tear or a
dent, a few per cent of its area, at a seeded random place on its body clear of the label
(so its code stays readable). `product_run` makes a run of one product (same size, label
and code) with chosen items defective, as a line running one product would show.

Run as a script to write a clip and print its truth:
    python tests/conveyor.py OUT.mp4 [--hard] [--seed N] [--boxes] [--damaged] [--perspective P]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels, x2/y2 exclusive

LEAD_S = 2.0  # empty belt before the first item enters
TAIL_S = 2.0  # empty belt after the last item has left
BELT_TOP = 0.2  # the belt band, as shares of the frame height
BELT_BOTTOM = 0.8
DEFAULT_SPEED = 200.0  # px/s at 640 px wide: an item crosses the frame in about 4 s
CODE_FORMATS = ("EAN13", "Code128", "QRCode", "DataMatrix")
DEFECT_KINDS = ("stain", "tear", "dent")

_MODULE_PX = {"EAN13": 1.9, "Code128": 2.0, "QRCode": 4.0, "DataMatrix": 6.0}  # normal clip
_HARD_CODE_SCALE = 0.85  # codes are this much smaller in a hard clip
_HARD_EXPOSURE = 0.25  # shutter open for this share of a frame interval: motion blur
_SEAM_PERIOD = 320  # px between belt seams
_BELT_PERIOD = 1280  # the belt texture repeats after this many px (a multiple of the seams)


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """One item: its code (None: no label), the code's format (zxing-cpp name, one of
    `CODE_FORMATS`), its size on the belt in pixels, its rotation, and the gap in pixels
    between the previous item's trailing edge and its leading edge (None: random).

    `defect` (one of `DEFECT_KINDS`, None: a good item) is drawn at a random place on the
    body, away from the label; `defect_seed` picks that place and shape (None: drawn from
    the clip's random stream). `label_at` fixes the label's centre as shares of the item's
    width and height (None: a random place near the middle), so a product's items can share
    one label layout. `damaged` tears or smudges the label so its code cannot be read."""

    code: str | None
    format: str | None
    width: int
    height: int
    angle_deg: float = 0.0
    gap_px: float | None = None
    code_scale: float = 1.0  # multiplies the module size chosen for the clip
    defect: str | None = None
    defect_seed: int | None = None
    label_at: tuple[float, float] | None = None
    damaged: bool = False


@dataclass(slots=True)
class TruthItem:
    """Where and when an item is in the clip. Times are seconds from the clip's start (frame
    i is at i / fps); the item's extent is the bounding box of the rotated box. With
    `perspective`, `y1`/`y2` and the timings are on the belt as seen from straight above
    (the camera's tilt keeps an item's left/right edges entering and leaving the frame at
    the same moments), while `boxes` and `label_boxes` are in the warped frame."""

    index: int
    code: str | None
    format: str | None
    enter_s: float  # leading (right) edge enters the frame at the left
    exit_s: float  # trailing (left) edge leaves the frame at the right
    fully_visible: tuple[float, float]  # the whole item is inside the frame
    y1: int
    y2: int
    # frame index -> the item's box clipped to the frame, for every frame it shows in
    boxes: dict[int, Box] = field(default_factory=dict, repr=False)
    # frame index -> the label's box (unclipped), for frames where the item is fully visible
    label_boxes: dict[int, Box] = field(default_factory=dict, repr=False)
    # the frames in which the whole item is inside the frame
    full_frames: list[int] = field(default_factory=list, repr=False)
    defect: str | None = None  # its defect's kind, None for a good item
    # the defect's bounding box as shares (x1, y1, x2, y2) of the item's extent (its truth
    # box when fully visible), or None
    defect_box: tuple[float, float, float, float] | None = None
    damaged: bool = False  # its label is damaged: `code` is printed but cannot be read


def frame_count(truth: Sequence[TruthItem], fps: int) -> int:
    """How many frames `make_conveyor_clip` writes for these items."""
    end = max((t.exit_s for t in truth), default=0.0) + TAIL_S
    return max(1, math.ceil(end * fps))


def ean13(first12: str) -> str:
    """`first12` digits with their EAN-13 check digit appended."""
    if len(first12) != 12 or not first12.isdigit():
        raise ValueError("need 12 digits")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def standard_items(seed: int = 0, *, damaged: bool = False) -> list[ItemSpec]:
    """Ten items: EAN-13 codes starting 40, Code 128, QR and Data Matrix codes, one item
    without a label and one with a wrong label (an EAN-13 not starting 40).

    `damaged=True` inserts an eleventh item, third in line: a large carton whose EAN-13
    label (a code starting 40) has a strip torn off across its middle, so it cannot be
    read. The other ten items are the same as without it."""
    rng = np.random.default_rng(seed)

    def digits(n: int) -> str:
        return "".join(str(int(d)) for d in rng.integers(0, 10, n))

    def angle() -> float:
        return float(rng.uniform(-5.0, 5.0))

    def size(kind: str) -> tuple[int, int]:
        if kind == "long":  # a long carton
            return int(rng.integers(290, 330)), int(rng.integers(110, 150))
        if kind == "big":  # a large, roughly square carton
            side = int(rng.integers(240, 270))
            return side, side - int(rng.integers(40, 80))
        side = int(rng.integers(160, 190))  # a small square box
        return side, side + int(rng.integers(-10, 11))

    plan: list[tuple[str | None, str | None, str]] = [
        (ean13("40" + digits(10)), "EAN13", "big"),
        (f"PKG{digits(6)}", "Code128", "long"),
        (f"ONS-{digits(8)}", "QRCode", "small"),
        (f"SKU{digits(5)}", "DataMatrix", "small"),
        (None, None, "long"),
        (ean13("40" + digits(10)), "EAN13", "long"),
        (ean13("50" + digits(10)), "EAN13", "big"),  # wrong label: does not start 40
        (f"LOT{digits(6)}", "Code128", "long"),
        (f"HTTPS://EX.CO/I/{digits(6)}", "QRCode", "small"),  # upper case: a smaller QR
        (ean13("40" + digits(10)), "EAN13", "big"),
    ]
    items = []
    for code, fmt, kind in plan:
        w, h = size(kind)
        items.append(ItemSpec(code, fmt, w, h, angle_deg=angle()))
    if damaged:  # drawn after the others, so they do not change
        code = ean13("40" + digits(10))
        w, h = size("big")
        items.insert(2, ItemSpec(code, "EAN13", w, h, angle_deg=angle(), damaged=True))
    return items


def product_run(
    count: int,
    defects: Mapping[int, str] | None = None,
    *,
    seed: int = 0,
    size: tuple[int, int] = (260, 170),
    code: str | None = None,
    max_angle_deg: float = 2.0,
    gaps_px: tuple[float, float] = (220.0, 300.0),
) -> list[ItemSpec]:
    """`count` items of one product: the same size, label layout (an EAN-13 label in the
    upper left, the rest of the box plain) and code (`code`, or one made from `seed`), each
    slightly rotated; `defects` maps item indices to defect kinds. The defects' places are
    seeded from `seed` and the index. Gaps between items are drawn from `gaps_px`: the
    default keeps items on well under half of the belt band at any moment (onsight's item
    tracker takes the band's median change as its noise floor, so a belt mostly covered by
    items is not one it can follow)."""
    defects = dict(defects or {})
    for index, kind in defects.items():
        if not 0 <= index < count:
            raise ValueError(f"defect index {index} outside the run of {count}")
        if kind not in DEFECT_KINDS:
            raise ValueError(f"defect {kind!r} not one of {DEFECT_KINDS}")
    rng = np.random.default_rng(seed)
    if code is None:
        code = ean13("40" + "".join(str(int(d)) for d in rng.integers(0, 10, 10)))
    width, height = size
    label_at = (0.36, 0.32)
    return [
        ItemSpec(
            code,
            "EAN13",
            width,
            height,
            angle_deg=float(rng.uniform(-max_angle_deg, max_angle_deg)),
            gap_px=float(rng.uniform(*gaps_px)),
            defect=defects.get(i),
            defect_seed=seed * 1000 + i if i in defects else None,
            code_scale=0.85,
            label_at=label_at,
        )
        for i in range(count)
    ]


# ---------------------------------------------------------------------------------------
# Rendering


def _code_image(code: str, fmt: str) -> U8:
    """The code as zxing-cpp draws it: 1 px per module, black on white, with quiet zones."""
    if fmt not in CODE_FORMATS:
        raise ValueError(f"format {fmt!r} not one of {CODE_FORMATS}")
    barcode = zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.__members__[fmt])
    image = np.asarray(barcode.to_image(scale=1, add_hrt=False, add_quiet_zones=True))
    image = image.astype(np.uint8)
    if fmt in ("EAN13", "Code128"):  # one row per module is enough for the shape
        image = image[:1]
    return image


def _label(spec: ItemSpec, module_px: float, rng: np.random.Generator) -> tuple[F32, Box]:
    """A white label carrying the code, as float BGR 0-255, and the code's box in it."""
    assert spec.code is not None and spec.format is not None
    code = _code_image(spec.code, spec.format)
    linear = spec.format in ("EAN13", "Code128")
    cw = max(1, round(code.shape[1] * module_px))
    ch = round(cw * 0.3) if linear else max(1, round(code.shape[0] * module_px))
    # draw at 4x and shrink: a fractional module size, as a camera would see it
    big = cv2.resize(code, (cw * 4, ch * 4), interpolation=cv2.INTER_NEAREST)
    drawn = cv2.resize(big, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.float32)
    pad = max(4, round(module_px * 2))
    lw, lh = cw + 2 * pad, ch + 2 * pad + (round(module_px * 5) if linear else 0)
    label = np.full((lh, lw), 236.0, np.float32) + rng.normal(0, 2.0, (lh, lw)).astype(np.float32)
    ink = drawn * (236.0 / 255.0) + (1.0 - drawn / 255.0) * 28.0
    label[pad : pad + ch, pad : pad + cw] = ink
    if linear:  # a grey line where the human-readable text would be
        ty = pad + ch + max(2, round(module_px * 2))
        label[ty : ty + max(2, round(module_px * 2.5)), pad + cw // 8 : pad + cw * 7 // 8] = 120.0
    colour = np.array([0.97, 1.0, 1.0], np.float32)
    return np.repeat(label[:, :, None], 3, axis=2) * colour, (pad, pad, pad + cw, pad + ch)


def _damage_label(label: F32, under: F32, fmt: str, code: Box, rng: np.random.Generator) -> None:
    """Damage `label` in place so its code cannot be decoded. A linear code loses a strip
    about 30% of its width torn off across the whole label through its middle (the
    cardboard `under` the label shows, with pale torn paper fibres along both edges); a 2-D
    code gets an opaque greasy smudge over its finder corner (QR: top left, Data Matrix:
    bottom left, the corner of its L) reaching past the middle of the symbol."""
    lh, lw = label.shape[:2]
    cx1, cy1, cx2, cy2 = code
    cw, ch = cx2 - cx1, cy2 - cy1
    xx = np.mgrid[0:lh, 0:lw][1].astype(np.float32)
    if fmt in ("EAN13", "Code128"):
        centre = cx1 + cw * (0.5 + float(rng.uniform(-0.06, 0.06)))
        half = cw * float(rng.uniform(0.14, 0.17))

        # jagged edges: a smoothed random walk per row, a few px either way
        def edge() -> F32:
            walk = np.cumsum(rng.normal(0, 1.2, lh)).astype(np.float32)
            walk -= np.linspace(walk[0], walk[-1], lh, dtype=np.float32)  # no drift
            return np.clip(walk, -4.0, 4.0)

        left = (centre - half + edge())[:, None]
        right = (centre + half + edge())[:, None]
        torn = np.clip(np.minimum(xx - left, right - xx) + 0.5, 0.0, 1.0)
        fibres = np.clip(np.minimum(xx - left + 2.5, right + 2.5 - xx) + 0.5, 0.0, 1.0) - torn
        glue = 0.85 + 0.08 * cv2.GaussianBlur(
            rng.normal(0, 1, (lh, lw)).astype(np.float32), (0, 0), 2.0
        )
        bare = under * glue[:, :, None]
        label[:] = label * (1.0 - torn[:, :, None]) + bare * torn[:, :, None]
        label += (np.clip(fibres, 0.0, 1.0) * 18.0)[:, :, None]
        np.clip(label, 0.0, 255.0, out=label)
        return
    if fmt not in CODE_FORMATS:
        raise ValueError(f"format {fmt!r} not one of {CODE_FORMATS}")
    # the finder corner, and a blot of overlapping ellipses reaching past the middle
    fx, fy = (
        (cx1 + cw * 0.12, cy1 + ch * 0.12)
        if fmt == "QRCode"
        else (cx1 + cw * 0.12, cy2 - ch * 0.12)
    )
    tx, ty = cx1 + cw * 0.55, cy1 + ch * 0.5  # toward the symbol's centre
    radius = 0.3 * max(cw, ch)
    mask = np.zeros((lh, lw), np.float32)
    for k in range(7):
        share = k / 6
        px = fx + (tx - fx) * share + float(rng.normal(0, radius * 0.12))
        py = fy + (ty - fy) * share + float(rng.normal(0, radius * 0.12))
        axes = (
            max(3, round(radius * float(rng.uniform(0.7, 1.0)))),
            max(3, round(radius * float(rng.uniform(0.7, 1.0)))),
        )
        cv2.ellipse(mask, (round(px), round(py)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    soft = np.asarray(cv2.GaussianBlur(mask, (0, 0), max(1.0, radius * 0.08)), np.float32)
    cover = np.clip(soft * 1.6, 0.0, 1.0)  # opaque inside, a soft rim
    grime = 62.0 + cv2.GaussianBlur(rng.normal(0, 8, (lh, lw)).astype(np.float32), (0, 0), 3.0)
    tone = np.array([0.85, 0.95, 1.05], np.float32)  # brownish grey
    smudge = grime[:, :, None] * tone
    label[:] = label * (1.0 - cover[:, :, None]) + smudge * cover[:, :, None]


@dataclass(slots=True)
class _Sprite:
    image: F32  # rotated item, BGR float
    alpha: F32  # 0-1
    label_box: Box | None  # label's bounding box inside the sprite
    defect_box: tuple[float, float, float, float] | None = None  # shares of the sprite
    corners: npt.NDArray[np.float64] | None = None  # the item's 4 corners in the sprite, (4, 2)
    label_corners: npt.NDArray[np.float64] | None = None  # the label's, or None


def _sprite(spec: ItemSpec, module_px: float, rng: np.random.Generator) -> _Sprite:
    w, h = spec.width, spec.height
    tint = rng.uniform(-12, 12)
    base = np.array([88 + tint * 0.5, 142 + tint, 190 + tint], np.float32)  # cardboard, BGR
    box = np.empty((h, w, 3), np.float32)
    box[:] = base
    # fibres: streaks along one direction, and a faint blotchy tone
    fibres = cv2.GaussianBlur(
        rng.normal(0, 9, (h, w)).astype(np.float32), (0, 0), sigmaX=0.6, sigmaY=4.0
    )
    blotch = cv2.resize(rng.normal(0, 6, (max(2, h // 24), max(2, w // 24))), (w, h))
    box += (fibres + blotch.astype(np.float32))[:, :, None]
    # the flaps' seam across the middle, and darker edges
    cv2.line(box, (0, h // 2), (w - 1, h // 2), (base * 0.72).tolist(), 2)
    edge = max(3, min(w, h) // 40)
    box[:edge] *= 0.8
    box[-edge:] *= 0.7
    box[:, :edge] *= 0.8
    box[:, -edge:] *= 0.75
    label_box = None
    if spec.code is not None:
        label, code_box = _label(spec, module_px * spec.code_scale, rng)
        lh, lw = label.shape[:2]
        if lw > w - 2 * edge or lh > h - 2 * edge:
            raise ValueError(
                f"item {w}x{h} too small for its {spec.format} label ({lw}x{lh} px); "
                "make it larger or lower code_scale"
            )
        if spec.label_at is None:
            x0 = (w - lw) // 2 + int(rng.integers(-(w - lw) // 6, (w - lw) // 6 + 1))
            y0 = (h - lh) // 2 + int(rng.integers(-(h - lh) // 6, (h - lh) // 6 + 1))
        else:
            x0 = min(max(edge, round(spec.label_at[0] * w - lw / 2)), w - edge - lw)
            y0 = min(max(edge, round(spec.label_at[1] * h - lh / 2)), h - edge - lh)
        if spec.damaged:
            under = box[y0 : y0 + lh, x0 : x0 + lw]
            _damage_label(label, under, spec.format or "", code_box, rng)
        box[y0 : y0 + lh, x0 : x0 + lw] = label
        label_box = (x0, y0, x0 + lw, y0 + lh)
    flat_defect: Box | None = None
    if spec.defect is not None:
        defect_rng = rng if spec.defect_seed is None else np.random.default_rng(spec.defect_seed)
        flat_defect = _draw_defect(box, spec.defect, edge, label_box, defect_rng)
    # rotate about the centre onto a canvas that holds the whole rotated box
    theta = math.radians(spec.angle_deg)
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    rw, rh = math.ceil(w * c + h * s) + 2, math.ceil(w * s + h * c) + 2
    m = cv2.getRotationMatrix2D((w / 2, h / 2), spec.angle_deg, 1.0)
    m[0, 2] += rw / 2 - w / 2
    m[1, 2] += rh / 2 - h / 2
    image = cv2.warpAffine(box, m, (rw, rh), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(np.ones((h, w), np.float32), m, (rw, rh), flags=cv2.INTER_LINEAR)
    # crop to the visible extent, so the truth box is tight
    ys, xs = np.nonzero(alpha > 0.5)
    x1, x2, y1, y2 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    flat = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], float)
    item_corners = flat @ m.T - [x1, y1]
    label_corners = None
    if label_box is not None:
        lx0, ly0, lx1, ly1 = label_box
        corners = np.array([[lx0, ly0, 1], [lx1, ly0, 1], [lx1, ly1, 1], [lx0, ly1, 1]], float)
        pts = corners @ m.T
        label_corners = pts - [x1, y1]
        label_box = (
            math.floor(float(pts[:, 0].min())) - x1,
            math.floor(float(pts[:, 1].min())) - y1,
            math.ceil(float(pts[:, 0].max())) - x1,
            math.ceil(float(pts[:, 1].max())) - y1,
        )
    defect_box = None
    if flat_defect is not None:
        dx0, dy0, dx1, dy1 = flat_defect
        corners = np.array([[dx0, dy0, 1], [dx1, dy0, 1], [dx1, dy1, 1], [dx0, dy1, 1]], float)
        pts = corners @ m.T
        sw, sh = x2 - x1, y2 - y1
        defect_box = (
            max(0.0, (float(pts[:, 0].min()) - x1) / sw),
            max(0.0, (float(pts[:, 1].min()) - y1) / sh),
            min(1.0, (float(pts[:, 0].max()) - x1) / sw),
            min(1.0, (float(pts[:, 1].max()) - y1) / sh),
        )
    return _Sprite(
        np.ascontiguousarray(image[y1:y2, x1:x2]),
        np.ascontiguousarray(alpha[y1:y2, x1:x2]),
        label_box,
        defect_box,
        item_corners,
        label_corners,
    )


def _defect_place(
    w: int, h: int, half: tuple[int, int], edge: int, label: Box | None, rng: np.random.Generator
) -> tuple[int, int] | None:
    """A centre for a defect reaching `half` (x, y) px from it: on the body, clear of the
    edges, the flaps' seam is allowed, the label (with a margin) is not. None: no room."""
    hx, hy = half
    margin = edge + 4
    if w - 2 * (margin + hx) < 0 or h - 2 * (margin + hy) < 0:
        return None
    for _ in range(200):
        cx = int(rng.integers(margin + hx, max(margin + hx + 1, w - margin - hx)))
        cy = int(rng.integers(margin + hy, max(margin + hy + 1, h - margin - hy)))
        if label is None:
            return cx, cy
        lx0, ly0, lx1, ly1 = label
        clear = 6
        if (
            cx + hx < lx0 - clear
            or cx - hx > lx1 + clear
            or cy + hy < ly0 - clear
            or cy - hy > ly1 + clear
        ):
            return cx, cy
    return None


def _oriented_place(
    w: int,
    h: int,
    length: float,
    width: float,
    edge: int,
    label: Box | None,
    rng: np.random.Generator,
) -> tuple[int, int, float]:
    """A centre and an angle for a line-like defect `length` long and `width` wide."""
    for _ in range(50):
        angle = float(rng.uniform(0, math.pi))
        ux, uy = abs(math.cos(angle)), abs(math.sin(angle))
        hx = math.ceil(ux * length / 2 + uy * width / 2) + 2
        hy = math.ceil(uy * length / 2 + ux * width / 2) + 2
        place = _defect_place(w, h, (hx, hy), edge, label, rng)
        if place is not None:
            return place[0], place[1], angle
    raise ValueError(f"item {w}x{h} has no room for a defect beside its label; make it larger")


def _draw_defect(
    box: F32, kind: str, edge: int, label: Box | None, rng: np.random.Generator
) -> Box:
    """Draw a defect of `kind` on the flat (unrotated) item image in place; its box."""
    h, w = box.shape[:2]
    area = w * h
    if kind == "stain":
        # an oily, irregular blot: overlapping ellipses, soft edges, darker rim
        radius = math.sqrt(area * float(rng.uniform(0.02, 0.035)) / math.pi)
        half = (math.ceil(radius * 1.3), math.ceil(radius * 1.3))
        place = _defect_place(w, h, half, edge, label, rng)
        if place is None:
            raise ValueError(f"item {w}x{h} has no room for a stain beside its label")
        cx, cy = place
        mask = np.zeros((h, w), np.float32)
        for _ in range(6):
            ox, oy = rng.normal(0, radius * 0.3, 2)
            ax, ay = radius * rng.uniform(0.45, 0.8), radius * rng.uniform(0.45, 0.8)
            centre = (round(cx + ox), round(cy + oy))
            axes = (max(2, round(ax)), max(2, round(ay)))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), max(1.0, radius * 0.12)), np.float32)
        rim = np.clip(mask * (1.0 - mask) * 4.0, 0.0, 1.0)
        darken = 1.0 - 0.5 * mask - 0.15 * rim
        tone = np.array([0.95, 0.9, 0.85], np.float32)  # a brownish-grey stain
        box *= (darken[:, :, None] * (1.0 - mask[:, :, None] * (1.0 - tone))).astype(np.float32)
        ys, xs = np.nonzero(mask > 0.1)
    elif kind == "tear":
        # a jagged rip: a dark gap along a zig-zag, with torn light fibres along its sides
        length = math.sqrt(area) * float(rng.uniform(0.32, 0.42))
        cx, cy, angle = _oriented_place(w, h, length, 14.0, edge, label, rng)
        steps = 9
        t = np.linspace(-0.5, 0.5, steps) * length
        jag = rng.uniform(-3.5, 3.5, steps)
        ux, uy = math.cos(angle), math.sin(angle)
        pts = np.stack([cx + t * ux - jag * uy, cy + t * uy + jag * ux], axis=1)
        line = np.round(pts).astype(np.int32).reshape(-1, 1, 2)
        fringe = np.zeros((h, w), np.float32)
        cv2.polylines(fringe, [line], False, 1.0, 7, cv2.LINE_AA)
        gap = np.zeros((h, w), np.float32)
        cv2.polylines(gap, [line], False, 1.0, 3, cv2.LINE_AA)
        light = np.clip(fringe - gap, 0.0, 1.0)
        box += (light * 45.0)[:, :, None]  # the torn paper's pale fibres
        box *= (1.0 - 0.8 * gap)[:, :, None]  # the dark gap into the box
        ys, xs = np.nonzero(fringe > 0.1)
    elif kind == "dent":
        # a crease pressed in: one side of a short line shaded, the other lit
        length = math.sqrt(area) * float(rng.uniform(0.3, 0.4))
        width = max(6.0, length * 0.28)
        cx, cy, angle = _oriented_place(w, h, length, 2 * width, edge, label, rng)
        ux, uy = math.cos(angle), math.sin(angle)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        along = (xx - cx) * ux + (yy - cy) * uy  # along the crease
        across = -(xx - cx) * uy + (yy - cy) * ux  # across it
        ends = np.clip(1.0 - (np.abs(along) / (length / 2)) ** 4, 0.0, 1.0)
        shade = np.tanh(across / (width * 0.35)) * np.exp(-((across / width) ** 2) * 2.0)
        shade *= ends
        crease = np.exp(-((across / 2.0) ** 2)) * ends  # the fold line itself, darkest
        # the buckled board beside it: shorter wrinkles on the shaded side
        short = np.clip(1.0 - (np.abs(along) / (length / 3)) ** 4, 0.0, 1.0)
        for offset in (0.45, 0.8):
            crease += 0.6 * np.exp(-(((across - offset * width) / 1.5) ** 2)) * short
        crease = np.clip(crease, 0.0, 1.0)
        box *= (1.0 - 0.6 * np.clip(shade, 0, 1) - 0.6 * crease)[:, :, None]
        box += (np.clip(-shade, 0, 1) * 60.0)[:, :, None]
        ys, xs = np.nonzero((np.abs(shade) > 0.08) | (crease > 0.1))
    else:
        raise ValueError(f"defect {kind!r} not one of {DEFECT_KINDS}")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _belt_texture(band_h: int, rng: np.random.Generator) -> F32:
    """One period of the belt, BGR float: dark grey rubber, fine grain, seams and marks."""
    grain = cv2.GaussianBlur(
        rng.normal(0, 7, (band_h, _BELT_PERIOD)).astype(np.float32), (0, 0), 0.8
    )
    # the fine grain must wrap around the period too: blend the ends
    tone = cv2.resize(rng.normal(0, 3, (4, _BELT_PERIOD // 64)), (_BELT_PERIOD, band_h))
    belt = 58.0 + grain + tone.astype(np.float32)
    for x in range(0, _BELT_PERIOD, _SEAM_PERIOD):  # seams: a dark joint with a bright lip
        belt[:, x : x + 3] -= 22.0
        belt[:, x + 3 : x + 5] += 14.0
    for _ in range(18):  # scuffs and marks
        cx, cy = int(rng.integers(0, _BELT_PERIOD)), int(rng.integers(0, band_h))
        ax, ay = int(rng.integers(2, 14)), int(rng.integers(1, 5))
        shade = float(rng.choice([-1.0, 1.0]) * rng.uniform(10, 25))
        cv2.ellipse(belt, (cx, cy), (ax, ay), float(rng.uniform(0, 180)), 0, 360, shade + 58.0, -1)
    # a painted track mark every other seam, as on a real belt
    for x in range(_SEAM_PERIOD // 2, _BELT_PERIOD, 2 * _SEAM_PERIOD):
        cv2.rectangle(belt, (x, 6), (x + 10, 16), 150.0, -1)
    colour = np.array([1.02, 1.0, 0.97], np.float32)
    return np.asarray(np.clip(belt, 0, 255)[:, :, None] * colour, dtype=np.float32)


def _static_scene(w: int, h: int, y0: int, y1: int, rng: np.random.Generator) -> F32:
    """The frame around the belt: machine body, metal rails with bolts (does not move)."""
    scene = np.empty((h, w, 3), np.float32)
    scene[:] = (38.0, 40.0, 44.0)
    gradient = np.linspace(0.8, 1.1, w, dtype=np.float32)[None, :, None]
    scene *= gradient
    rail = max(6, round(h * 0.05))
    for top in (y0 - rail, y1):
        ramp = np.linspace(165, 120, rail, dtype=np.float32)
        if top == y1:
            ramp = ramp[::-1]
        scene[top : top + rail] = ramp[:, None, None] * np.array([1.0, 1.0, 0.98], np.float32)
        for bx in range(20, w, 96):  # bolts
            cv2.circle(scene, (bx, top + rail // 2), max(2, rail // 4), (70.0, 70.0, 72.0), -1)
    scene[: y0 - rail, :] += rng.normal(0, 2, (y0 - rail, w, 1)).astype(np.float32)
    return scene


def _place(band: F32, sprite: _Sprite, x: float, y: int, shadow: bool = True) -> None:
    """Composite `sprite` with its top-left corner at (x, y) of the band (x fractional)."""
    bh, bw = band.shape[:2]
    sh, sw = sprite.alpha.shape
    ix = math.floor(x)
    fx = x - ix
    x1, x2 = max(0, ix), min(bw, ix + sw + 1)
    if x2 <= x1:
        return
    # shift the sprite by its fractional offset, into a 1 px wider canvas
    m = np.array([[1.0, 0.0, fx], [0.0, 1.0, 0.0]], np.float32)
    img = cv2.warpAffine(sprite.image, m, (sw + 1, sh), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(sprite.alpha, m, (sw + 1, sh), flags=cv2.INTER_LINEAR)
    sx1, sx2 = x1 - ix, x2 - ix
    region = band[y : y + sh, x1:x2]
    if shadow:  # a soft shadow down and to the right
        off = 5
        sy2 = min(bh, y + sh + off)
        shade = np.zeros((sy2 - y, x2 - x1), np.float32)
        src = alpha[: sy2 - y - off, sx1:sx2]
        shade[off : off + src.shape[0], : src.shape[1]] = src
        shade = cv2.GaussianBlur(shade, (0, 0), 4.0)
        band[y:sy2, x1:x2] *= (1.0 - 0.35 * shade)[:, :, None]
        region = band[y : y + sh, x1:x2]
    a = alpha[:, sx1:sx2, None]
    region[:] = region * (1.0 - a) + img[:, sx1:sx2] * a


def _tilt(w: int, h: int, perspective: float) -> npt.NDArray[np.float64]:
    """The homography of a camera tilted along the belt: the frame's left edge stays, its
    right edge shrinks to `1 - perspective` of the height about the belt's centre line.
    A point's x maps to an x that depends on x alone, increasing, 0 to 0 and w to w."""
    cy = h * (BELT_TOP + BELT_BOTTOM) / 2
    keep = 1.0 - perspective
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = np.array([[0, 0], [w, cy - keep * cy], [w, cy + keep * (h - cy)], [0, h]], np.float32)
    return np.asarray(cv2.getPerspectiveTransform(src, dst), dtype=np.float64)


def _warped_box(
    warp: npt.NDArray[np.float64],
    corners: npt.NDArray[np.float64],
    x: float,
    y: int,
    frame: tuple[int, int] | None,
) -> Box:
    """The bounding box of `corners` (in a sprite placed at (x, y)) mapped through `warp`,
    clipped to the `frame` (w, h) if given."""
    placed = corners + np.array([x, y], np.float64)
    pts = np.concatenate([placed, np.ones((len(corners), 1))], axis=1) @ warp.T
    xs, ys = pts[:, 0] / pts[:, 2], pts[:, 1] / pts[:, 2]
    x1, y1 = math.floor(float(xs.min())), math.floor(float(ys.min()))
    x2, y2 = math.ceil(float(xs.max())), math.ceil(float(ys.max()))
    if frame is not None:
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(frame[0], x2), min(frame[1], y2)
    return x1, y1, x2, y2


def make_conveyor_clip(
    path: Path,
    items: Sequence[ItemSpec],
    *,
    fps: int = 25,
    size: tuple[int, int] = (640, 480),
    speed_px_s: float = DEFAULT_SPEED,
    seed: int = 0,
    hard: bool = False,
    perspective: float = 0.0,
) -> list[TruthItem]:
    """Write the clip to `path` (H.264 MP4, yuv420p) and return each item's truth.

    `perspective` tilts the camera along the belt (see the module's notes): the far (right)
    end of the frame shows the scene at `1 - perspective` of the near end's height."""
    if not 0.0 <= perspective < 1.0:
        raise ValueError(f"perspective must be in [0, 1), got {perspective}")
    w, h = size
    warp = _tilt(w, h, perspective) if perspective > 0 else None
    rng = np.random.default_rng(seed)
    y0, y1 = round(h * BELT_TOP), round(h * BELT_BOTTOM)
    band_h = y1 - y0
    code_scale = _HARD_CODE_SCALE if hard else 1.0
    sprites = [
        _sprite(spec, _MODULE_PX.get(spec.format or "", 2.0) * code_scale, rng) for spec in items
    ]

    # Timing: item i's sprite left edge is at x = speed * (t - enter_s) - sprite width.
    truth: list[TruthItem] = []
    enter = LEAD_S
    previous_trailing_enter = None  # when the previous item's trailing edge entered
    for i, (spec, sprite) in enumerate(zip(items, sprites, strict=True)):
        sh, sw = sprite.alpha.shape
        if sh > band_h - 16:
            raise ValueError(f"item {i} is {sh} px tall on a {band_h} px belt")
        if previous_trailing_enter is not None:
            gap = spec.gap_px if spec.gap_px is not None else float(rng.uniform(70, 200))
            enter = previous_trailing_enter + gap / speed_px_s
        previous_trailing_enter = enter + sw / speed_px_s
        top = int(rng.integers(8, band_h - sh - 8 + 1))
        truth.append(
            TruthItem(
                index=i,
                code=spec.code,
                format=spec.format,
                enter_s=enter,
                exit_s=enter + (w + sw) / speed_px_s,
                fully_visible=(enter + sw / speed_px_s, enter + w / speed_px_s),
                y1=y0 + top,
                y2=y0 + top + sh,
                defect=spec.defect,
                defect_box=sprite.defect_box,
                damaged=spec.damaged and spec.code is not None,
            )
        )
    n_frames = frame_count(truth, fps)

    belt = _belt_texture(band_h, rng)
    scene = _static_scene(w, h, y0, y1, rng)
    belt_phase = float(rng.uniform(0, _BELT_PERIOD))
    noise_sigma = 5.0 if hard else 2.2
    noise_bank = [rng.normal(0, noise_sigma, (2 * h, w, 3)).astype(np.float32) for _ in range(8)]
    gain0 = 0.6 if hard else 1.0
    flicker_hz = float(rng.uniform(0.3, 0.7))
    blur_px = max(2, round(speed_px_s / fps * _HARD_EXPOSURE)) if hard else 0
    belt2 = np.ascontiguousarray(np.concatenate([belt, belt[:, : w + 2]], axis=1))

    container = av.open(str(path), mode="w")
    try:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "26" if hard else "18", "preset": "ultrafast"}
        for fi in range(n_frames):
            t = fi / fps
            # the belt moves right: frame column x shows texture column (x - travel) mod period
            start = (-speed_px_s * t - belt_phase) % _BELT_PERIOD
            i0 = math.floor(start)
            f = start - i0
            band = np.asarray(
                cv2.addWeighted(belt2[:, i0 : i0 + w], 1 - f, belt2[:, i0 + 1 : i0 + w + 1], f, 0),
                dtype=np.float32,
            )
            for item, sprite in zip(truth, sprites, strict=True):
                sw = sprite.alpha.shape[1]
                x = speed_px_s * (t - item.enter_s) - sw
                if x >= w or x + sw <= 0:
                    continue
                _place(band, sprite, x, item.y1 - y0)
                full = x >= 0 and x + sw <= w
                if full:
                    item.full_frames.append(fi)
                if warp is not None:
                    assert sprite.corners is not None
                    item.boxes[fi] = _warped_box(warp, sprite.corners, x, item.y1, (w, h))
                    if full and sprite.label_corners is not None:
                        label = _warped_box(warp, sprite.label_corners, x, item.y1, None)
                        item.label_boxes[fi] = label
                    continue
                x1, x2 = max(0, math.floor(x)), min(w, math.ceil(x + sw))
                item.boxes[fi] = (x1, item.y1, x2, item.y2)
                if full and sprite.label_box is not None:
                    lx1, ly1, lx2, ly2 = sprite.label_box
                    item.label_boxes[fi] = (
                        math.floor(x) + lx1,
                        item.y1 + ly1,
                        math.ceil(x) + lx2,
                        item.y1 + ly2,
                    )
            if blur_px:
                band = np.asarray(cv2.blur(band, (blur_px, 1)), dtype=np.float32)
            frame = scene.copy()
            frame[y0:y1] = band
            if warp is not None:
                frame = np.asarray(
                    cv2.warpPerspective(
                        frame, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                    ),
                    dtype=np.float32,
                )
            gain = gain0 * (1.0 + 0.025 * math.sin(2 * math.pi * flicker_hz * t))
            gain *= 1.0 + float(rng.normal(0, 0.006))
            frame *= gain
            shift = int(rng.integers(0, h - 8))  # a different slice of the noise bank each frame
            frame += noise_bank[fi % 8][shift : shift + h]
            out = np.clip(frame, 0, 255).astype(np.uint8)
            if hard:
                ok, jpg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 40])
                assert ok
                out = np.asarray(cv2.imdecode(jpg, cv2.IMREAD_COLOR), dtype=np.uint8)
            frame_av = av.VideoFrame.from_ndarray(out, format="bgr24")
            for packet in stream.encode(frame_av):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    return truth


class ClipCache:
    """Each conveyor clip made once per test session: `get` takes `make_conveyor_clip`'s
    arguments (but the path) and returns the path of the clip made with them, making it
    the first time, and a fresh copy of its truth. The clip is shared by every test that
    asks for the same one: read it, never change it. (`tests/conftest.py` has one for the
    session: the `conveyor_clips` fixture.)"""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._clips: dict[tuple[object, ...], tuple[Path, list[TruthItem]]] = {}

    def get(
        self,
        items: Sequence[ItemSpec],
        *,
        fps: int = 25,
        size: tuple[int, int] = (640, 480),
        speed_px_s: float = DEFAULT_SPEED,
        seed: int = 0,
        hard: bool = False,
        perspective: float = 0.0,
    ) -> tuple[Path, list[TruthItem]]:
        if _belt_texture is not _BELT_TEXTURE:  # patched: the key would not name the clip
            raise RuntimeError("the belt texture is patched: use make_conveyor_clip")
        key = (tuple(items), fps, tuple(size), float(speed_px_s), seed, hard, float(perspective))
        if key not in self._clips:
            path = self.folder / f"conveyor-{len(self._clips):03d}.mp4"
            truth = make_conveyor_clip(
                path, items, fps=fps, size=size, speed_px_s=speed_px_s, seed=seed, hard=hard,
                perspective=perspective,
            )  # fmt: skip
            self._clips[key] = (path, truth)
        path, truth = self._clips[key]
        return path, copy.deepcopy(truth)


_BELT_TEXTURE = _belt_texture


def truth_json(truth: Sequence[TruthItem], *, boxes: bool = False) -> list[dict[str, object]]:
    out = []
    for item in truth:
        d = asdict(item)
        d.pop("full_frames")
        if boxes:
            d["boxes"] = {str(k): list(v) for k, v in item.boxes.items()}
            d["label_boxes"] = {str(k): list(v) for k, v in item.label_boxes.items()}
        else:
            d.pop("boxes")
            d.pop("label_boxes")
        out.append(d)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("--hard", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boxes", action="store_true", help="include per-frame boxes")
    parser.add_argument("--damaged", action="store_true", help="add a damaged-label item")
    parser.add_argument("--perspective", type=float, default=0.0, help="camera tilt, 0 to <1")
    args = parser.parse_args(argv)
    truth = make_conveyor_clip(
        args.out,
        standard_items(args.seed, damaged=args.damaged),
        seed=args.seed,
        hard=args.hard,
        perspective=args.perspective,
    )
    print(json.dumps(truth_json(truth, boxes=args.boxes), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
