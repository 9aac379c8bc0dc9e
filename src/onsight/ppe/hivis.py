"""Hi-vis compliance from colour: does a person's torso show enough fluorescent material?

Method, per frame (see docs/ppe.md, "Hi-vis"):

1. White balance from the scene. The camera's sRGB values are linearised and a
   shades-of-grey estimate (Finlayson & Trezzi 2004, Minkowski norm p=6, a robust middle
   between grey-world and max-RGB) of the illuminant gives von Kries gains per channel.
   Clipped and near-black pixels take no part; the gains are clamped so that a scene of one
   colour cannot turn it grey completely. The scene's white level is a high percentile of
   the balanced luminance: luminance factors are measured against it, so exposure and a
   darker scene cancel out.
2. Each balanced pixel goes to CIE XYZ (sRGB primaries, D65) and to chromaticity xy and
   luminance factor beta = Y / white.
3. A pixel is fluorescent when its xy lies in one of the three colour boxes of EN ISO 20471
   table 2 (fluorescent yellow-green, orange-red, red), widened by `CHROMA_MARGIN`, and its
   beta reaches the standard's minimum times `LUMINANCE_TOLERANCE`.
4. The torso region of each person box (`TORSO`) is tested; a person wears hi-vis when at
   least `WEARING_FRACTION` of its torso pixels are fluorescent.

Where colour fails (documented, with tests): low-pressure sodium light (one wavelength, no
colour left to see), dusk (too little light: noise and the luminance floor), walls, floors
and clothing in yellow or orange that are not PPE. `background_share` measures how much of a
scene outside people is hi-vis coloured so that `onsight check` can warn about it.

The per-person fractions are for tests and debugging only: nothing per person is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from onsight.types import FloatArray, Image

BoolArray = npt.NDArray[np.bool_]

# Torso region of a person box, as fractions of its height (top, bottom) and width (left,
# right): below the head and shoulders, above the hips, without the arms at the sides.
TORSO: tuple[float, float, float, float] = (0.20, 0.60, 0.20, 0.80)

# A person wears hi-vis when at least this share of the torso region is fluorescent.
# Measured: the real orange vest in worker-zone-detection.gif gives 0.23-0.49 (0.23 when the
# vest is partly out of frame), synthetic vests 0.44 and more; 95 % of the people in vtest
# stay under 0.05, red and orange clothes reach up to 0.197 (a bright red top). 0.21 lies
# between the two.
WEARING_FRACTION = 0.21

# How far (in CIE xy units) a pixel's chromaticity may lie outside a standard's colour box.
# Cameras do not measure colour: compression, chroma subsampling, blur and the sRGB gamut
# (the standard's boxes reach beyond it) pull fluorescent colours towards grey.
CHROMA_MARGIN = 0.03

# The standard's minimum luminance factors hold for flat fabric under diffuse D65 light; a
# worn vest is folded and shaded, and a camera's tone curve compresses bright colours. A
# pixel needs this share of the minimum. Fluorescence shows as luminance: this floor is what
# tells a fluorescent red-orange from an ordinary red top of the same chromaticity (0.5
# let such a top reach 0.27 of its torso; 0.6 keeps it under 0.2 and the real vest above).
LUMINANCE_TOLERANCE = 0.6

# `onsight check` warns when more than this share of a scene outside people is hi-vis
# coloured: such a scene gives false "wearing" decisions for anyone standing in front of it.
BACKGROUND_WARN_SHARE = 0.10

# Percentile of balanced luminance taken as the scene's white (a white object, not a
# specular highlight).
_WHITE_PERCENTILE = 99.0
_SHADES_OF_GREY_P = 6.0
_MAX_GAIN = 3.0  # clamp on per-channel white-balance gains (relative to their mean)
_CLIPPED = 250  # 8-bit value from which a channel counts as clipped
_DARK = 8  # 8-bit value below which a pixel carries no colour information
_SAMPLE_STEP = 4  # the illuminant is estimated on every 4th pixel of every 4th row

# sRGB (D65) linear RGB -> XYZ, IEC 61966-2-1.
_RGB_TO_XYZ = np.array(
    [
        [0.4124, 0.3576, 0.1805],
        [0.2126, 0.7152, 0.0722],
        [0.0193, 0.1192, 0.9505],
    ],
    np.float32,
)


def _srgb_to_linear_table() -> FloatArray:
    v = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return np.asarray(linear, np.float32)


_LINEAR = _srgb_to_linear_table()


@dataclass(frozen=True, slots=True)
class HivisColour:
    """One fluorescent colour of EN ISO 20471 (table 2): its chromaticity box in CIE 1931 xy
    (corners in order) and its minimum luminance factor."""

    name: str
    corners: tuple[tuple[float, float], ...]
    min_luminance: float


HIVIS_COLOURS: tuple[HivisColour, ...] = (
    HivisColour(
        "fluorescent yellow-green",
        ((0.387, 0.610), (0.356, 0.494), (0.398, 0.452), (0.460, 0.540)),
        0.70,
    ),
    HivisColour(
        "fluorescent orange-red",
        ((0.610, 0.390), (0.535, 0.375), (0.570, 0.340), (0.655, 0.345)),
        0.40,
    ),
    HivisColour(
        "fluorescent red",
        ((0.655, 0.345), (0.570, 0.340), (0.595, 0.315), (0.690, 0.310)),
        0.25,
    ),
)


@dataclass(frozen=True, slots=True)
class WhiteBalance:
    """A scene's illuminant estimate: linear-RGB gains (R, G, B) and the balanced luminance
    of its white."""

    gains: FloatArray  # (3,) R, G, B
    white: float

    @classmethod
    def neutral(cls) -> WhiteBalance:
        return cls(np.ones(3, np.float32), 1.0)


@dataclass(frozen=True, slots=True)
class HivisResult:
    """Per person: wearing hi-vis or not, and the fluorescent share of the torso (for tests
    and debugging only; never stored)."""

    wearing: BoolArray  # (N,)
    fraction: FloatArray  # (N,)


def estimate_white(image: Image) -> WhiteBalance:
    """Estimate the scene's illuminant (shades of grey, p=6) and white level from a BGR
    frame."""
    sample = image[::_SAMPLE_STEP, ::_SAMPLE_STEP].reshape(-1, 3)
    usable = (sample.max(axis=1) < _CLIPPED) & (sample.max(axis=1) >= _DARK)
    if int(usable.sum()) < 16:
        return WhiteBalance.neutral()
    rgb = _LINEAR[sample[usable][:, ::-1]].astype(np.float64)
    norm = np.mean(rgb**_SHADES_OF_GREY_P, axis=0) ** (1.0 / _SHADES_OF_GREY_P)
    gains = norm.mean() / np.maximum(norm, 1e-6)
    gains = np.clip(gains / gains.mean(), 1.0 / _MAX_GAIN, _MAX_GAIN)
    balanced = _LINEAR[sample[:, ::-1]].astype(np.float64) * gains
    luminance = np.minimum(balanced, 1.0) @ _RGB_TO_XYZ[1].astype(np.float64)
    white = float(np.percentile(luminance, _WHITE_PERCENTILE))
    return WhiteBalance(np.asarray(gains, np.float32), max(white, 1e-3))


def _xy_luminance(pixels: Image, balance: WhiteBalance) -> tuple[FloatArray, FloatArray]:
    """(..., 3) BGR pixels -> (..., 2) chromaticity xy and (...) luminance factor."""
    rgb = np.minimum(_LINEAR[pixels[..., ::-1]] * balance.gains, 1.0)
    xyz = rgb @ _RGB_TO_XYZ.T
    total = np.maximum(xyz.sum(axis=-1), 1e-6)
    xy = np.stack([xyz[..., 0] / total, xyz[..., 1] / total], axis=-1)
    return xy.astype(np.float32), (xyz[..., 1] / balance.white).astype(np.float32)


def _inside(xy: FloatArray, corners: tuple[tuple[float, float], ...], margin: float) -> BoolArray:
    """Points within `margin` of a convex polygon (mitred offset), any corner order."""
    poly = np.asarray(corners, np.float32)
    centre = poly.mean(axis=0)
    inside = np.ones(xy.shape[:-1], np.bool_)
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        edge = b - a
        length = float(np.hypot(edge[0], edge[1]))
        # Signed distance to the edge line, positive on the polygon's side.
        side = float(edge[0] * (centre[1] - a[1]) - edge[1] * (centre[0] - a[0]))
        sign = 1.0 if side >= 0 else -1.0
        dist = sign * (edge[0] * (xy[..., 1] - a[1]) - edge[1] * (xy[..., 0] - a[0])) / length
        inside &= dist >= -margin
    return inside


def hivis_pixels(pixels: Image, balance: WhiteBalance) -> BoolArray:
    """Which of the (..., 3) BGR pixels show a fluorescent EN ISO 20471 colour."""
    xy, beta = _xy_luminance(pixels, balance)
    hit = np.zeros(pixels.shape[:-1], np.bool_)
    for colour in HIVIS_COLOURS:
        bright = beta >= colour.min_luminance * LUMINANCE_TOLERANCE
        hit |= bright & _inside(xy, colour.corners, CHROMA_MARGIN)
    return hit


def _pixel_regions(
    boxes: FloatArray, width: int, height: int, region: tuple[float, float, float, float]
) -> npt.NDArray[np.int64]:
    """A region (top, bottom, left, right fractions) of each normalised xyxy box, in pixels
    clipped to the frame: (N, 4) x1, y1, x2, y2; empty when x2 <= x1 or y2 <= y1."""
    top, bottom, left, right = region
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    x1 = (b[:, 0] + left * bw) * width
    x2 = (b[:, 0] + right * bw) * width
    y1 = (b[:, 1] + top * bh) * height
    y2 = (b[:, 1] + bottom * bh) * height
    # A hair of slack so that float32 boxes on exact pixel edges do not grow by one pixel.
    eps = 1e-3
    out = np.stack(
        [np.floor(x1 + eps), np.floor(y1 + eps), np.ceil(x2 - eps), np.ceil(y2 - eps)], axis=1
    )
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out.astype(np.int64)


def torso_boxes(boxes: FloatArray, width: int, height: int) -> npt.NDArray[np.int64]:
    """The `TORSO` region of each normalised xyxy person box, in pixels, clipped to the
    frame: (N, 4) x1, y1, x2, y2 (empty when x2 <= x1 or y2 <= y1)."""
    return _pixel_regions(boxes, width, height, TORSO)


class HivisJudge:
    """Decides per person box whether the torso shows enough fluorescent material.

    The white balance is estimated from the whole frame once every `refresh_every` calls
    (lighting changes slowly; the estimate is the costly part on a large frame).
    """

    def __init__(self, threshold: float = WEARING_FRACTION, refresh_every: int = 1) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"hi-vis threshold must be in (0, 1], got {threshold}")
        if refresh_every < 1:
            raise ValueError(f"refresh_every must be at least 1, got {refresh_every}")
        self.threshold = threshold
        self.refresh_every = refresh_every
        self._calls = 0
        self._balance: WhiteBalance | None = None

    def white_balance(self, image: Image) -> WhiteBalance:
        """The current illuminant estimate, refreshed every `refresh_every` frames."""
        if self._balance is None or self._calls % self.refresh_every == 0:
            self._balance = estimate_white(image)
        self._calls += 1
        return self._balance

    def judge(self, image: Image, boxes: FloatArray) -> HivisResult:
        """`image` is a BGR frame; `boxes` are (N, 4) normalised xyxy person boxes."""
        balance = self.white_balance(image)
        height, width = image.shape[:2]
        regions = torso_boxes(boxes, width, height)
        fraction = np.zeros(len(regions), np.float32)
        for i, (x1, y1, x2, y2) in enumerate(regions):
            crop = image[y1:y2, x1:x2]
            if crop.size:
                fraction[i] = float(hivis_pixels(crop, balance).mean())
        return HivisResult(fraction >= self.threshold, fraction)


def background_share(
    image: Image, people_boxes: FloatArray, balance: WhiteBalance | None = None
) -> float:
    """Share of the frame outside the (normalised xyxy) person boxes that is hi-vis
    coloured; above `BACKGROUND_WARN_SHARE` the scene itself confuses the colour test."""
    height, width = image.shape[:2]
    balance = estimate_white(image) if balance is None else balance
    outside = np.ones((height, width), np.bool_)
    for x1, y1, x2, y2 in _pixel_regions(people_boxes, width, height, (0.0, 1.0, 0.0, 1.0)):
        outside[y1:y2, x1:x2] = False
    total = int(outside.sum())
    if total == 0:
        return 0.0
    return float((hivis_pixels(image, balance) & outside).sum()) / total
