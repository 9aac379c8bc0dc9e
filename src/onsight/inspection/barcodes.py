"""Barcode reading on an item's crop, with zxing-cpp.

The app calls `BarcodeReader.read` on an item's crop in successive frames until one read
succeeds, so a read must be cheap when the crop holds no code and should try a little
harder only when a plain read found nothing.

Formats are named as zxing-cpp names them (`EAN13`, `Code128`, `QRCode`, ...), matched
case-insensitively and ignoring spaces, hyphens and underscores (`ean-13`, `qr_code`). A
family name covers its variants as it does in zxing-cpp: `QRCode` also reads Micro QR and
rMQR codes, `Code39` its extended forms, `DataBar` all DataBar kinds (a read is reported
under the configured name it falls under). zxing-cpp reports a
UPC-A code read with `EAN13` (or with both `EAN13` and `UPCA`) enabled as an EAN-13 with a
leading 0, and its text is always the 13-digit form, e.g. `0312547701310`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from onsight.types import Image

# The names a config may use, in zxing-cpp 3.1's spelling. Groups such as `AllLinear` are
# left out on purpose: a site should say which codes its labels carry.
FORMATS: tuple[str, ...] = (
    "EAN13",
    "EAN8",
    "UPCA",
    "UPCE",
    "ISBN",
    "Code128",
    "Code39",
    "Code93",
    "Codabar",
    "ITF",
    "ITF14",
    "DataBar",
    "DataBarExp",
    "DataBarLtd",
    "QRCode",
    "MicroQRCode",
    "RMQRCode",
    "DataMatrix",
    "PDF417",
    "MicroPDF417",
    "Aztec",
    "MaxiCode",
)

# A crop whose longer side is at most this is also tried at twice the size (effort >= 1).
_UPSCALE_MAX_SIDE = 800
_UNSHARP_SIGMA = 2.0  # pixels, the blur the unsharp mask removes
_UNSHARP_AMOUNT = 1.5
_MOTION_SIGMA = 3.0  # pixels, along one axis only (motion blur along the travel)
_MOTION_AMOUNT = 2.0


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


_BY_KEY: dict[str, str] = {_key(name): name for name in FORMATS} | {
    "databarexpanded": "DataBarExp",  # zxing-cpp's longer aliases
    "databarlimited": "DataBarLtd",
}


def check_formats(names: Sequence[str]) -> tuple[str, ...]:
    """Return `names` in the canonical spelling of `FORMATS`, without duplicates and in the
    given order. Raise ValueError for an unknown name (listing the known ones) or for an
    empty list."""
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for name in names:
        canonical = _BY_KEY.get(_key(str(name)))
        if canonical is None:
            raise ValueError(
                f"unknown barcode format {name!r}; known formats: {', '.join(FORMATS)}"
            )
        if canonical not in out:
            out.append(canonical)
    if not out:
        raise ValueError(f"name at least one barcode format; known formats: {', '.join(FORMATS)}")
    return tuple(out)


def compile_expect(pattern: str) -> re.Pattern[str]:
    """Compile an `expect` pattern (matched against the whole code text), or raise
    ValueError saying what is wrong with it."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise ValueError(
            f"invalid expect pattern {pattern!r}: {exc.msg}{where} (a Python regular "
            "expression matched against the whole code text, e.g. '^40[0-9]{11}$')"
        ) from None


def expect_matches(pattern: str | None, text: str) -> bool:
    """Whether `text` matches `pattern` as a whole (`re.fullmatch`); no pattern matches
    anything. A bad pattern raises ValueError (see `compile_expect`)."""
    if pattern is None:
        return True
    return compile_expect(pattern).fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Read:
    """One code read from a crop."""

    format: str  # the configured name it was read as, e.g. "EAN13", "QRCode"
    text: str


def _area(barcode: zxingcpp.Barcode) -> float:
    """Area of the outline zxing-cpp reports for a code, in crop pixels (shoelace)."""
    p = barcode.position
    pts = [p.top_left, p.top_right, p.bottom_right, p.bottom_left]
    twice = 0
    for a, b in zip(pts, pts[1:] + pts[:1], strict=True):
        twice += a.x * b.y - b.x * a.y
    return abs(twice) / 2.0


def _u8(array: object) -> Image:
    """OpenCV's results typed as what they are (uint8 in, uint8 out)."""
    return np.asarray(array, dtype=np.uint8)


def _gray(crop: Image) -> Image:
    if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8:
        raise TypeError("crop must be a uint8 numpy array")
    if crop.ndim == 2:
        return np.ascontiguousarray(crop)
    if crop.ndim == 3 and crop.shape[2] == 3:
        return _u8(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY))
    raise ValueError(f"crop must be HxWx3 BGR or HxW grey, got shape {crop.shape}")


def _unsharp(gray: Image, sx: float, sy: float, amount: float) -> Image:
    blurred = cv2.GaussianBlur(gray, (0, 0), sigmaX=sx, sigmaY=sy)
    return _u8(cv2.addWeighted(gray, 1.0 + amount, blurred, -amount, 0.0))


def _upscale(gray: Image) -> Image | None:
    if max(gray.shape[:2]) > _UPSCALE_MAX_SIDE:
        return None
    return _u8(cv2.resize(gray, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC))


def _sharpen(gray: Image) -> Image:
    return _unsharp(gray, _UNSHARP_SIGMA, _UNSHARP_SIGMA, _UNSHARP_AMOUNT)


def _clahe(gray: Image) -> Image:
    return _u8(cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4)).apply(gray))


def _deblur_x(gray: Image) -> Image:
    # A small sigma across the axis keeps the sharpening from amplifying sensor noise.
    return _unsharp(gray, _MOTION_SIGMA, 0.5, _MOTION_AMOUNT)


def _deblur_y(gray: Image) -> Image:
    return _unsharp(gray, 0.5, _MOTION_SIGMA, _MOTION_AMOUNT)


def _deblur_x_upscaled(gray: Image) -> Image | None:
    big = _upscale(gray)
    return None if big is None else _unsharp(big, 2 * _MOTION_SIGMA * 0.67, 1.0, 3.0)


def _sharpen_upscaled(gray: Image) -> Image | None:
    big = _upscale(gray)
    return None if big is None else _unsharp(big, 2 * _UNSHARP_SIGMA, 2 * _UNSHARP_SIGMA, 2.0)


# Symbologies whose only check is a mod-10/mod-43 check digit, or none: a blurred or coarse
# code can misread into another valid-looking text (seen with zxing-cpp 3.1.1 on EAN-13 at
# 1.9 px per module), so their reads must be confirmed.
_WEAK = frozenset({"EANUPC", "ITF", "Codabar", "Code39", "Code93", "Code128", "DataBar"})

# Tried in order after a plain read failed; the first that reads anything wins.
_Variant = Callable[[Image], Image | None]
_EFFORT_1: tuple[_Variant, ...] = (_sharpen, _upscale, _deblur_x, _clahe)
_EFFORT_2: tuple[_Variant, ...] = (_deblur_y, _deblur_x_upscaled, _sharpen_upscaled)


class BarcodeReader:
    """Reads at most one code from an item's crop.

    `effort=0` is one plain zxing-cpp read of the crop. `effort=1` (the default) tries,
    only if that found nothing and each only if the one before found nothing: an unsharp
    mask (defocus and mild blur), a 2x cubic upscale (codes whose modules are too small;
    only for crops up to 800 px on the longer side), a deblur along the x axis (motion blur
    of a belt travelling left-right) and a local contrast stretch (CLAHE, dark or flat
    lighting). `effort=2` also tries a deblur along y, and a deblur along x and a sharpening
    of the 2x upscale (finer, blurred linear codes). Each variant is made only when reached.

    If one image holds several different codes, the one with the largest area (of the
    outline zxing-cpp reports) is returned, the first found on a tie. Note that for a
    linear code zxing-cpp's outline covers only the band of bars it scanned, often less
    than the printed bar height, so a 2-D code of similar printed size usually wins.
    Reads that zxing-cpp marks invalid (e.g. a checksum error) are ignored.

    Linear codes (EAN/UPC, Code 128, Code 39, Code 93, ITF, Codabar, DataBar) count only
    when confirmed: the code's surroundings in the same image, upscaled 2x, must read the
    same text again. zxing-cpp 3.1.1 misreads coarse or blurred linear codes into other
    texts that pass their check digit (an EAN-13 at 1.9 px per module, a motion-blurred
    Code 128 after sharpening), and one wrong read would flag a good item. The check costs
    one small extra read when a code is found and nothing when none is. 2-D codes carry
    Reed-Solomon error correction and are taken as read.

    `Read.format` is the configured name the code falls under: a Micro QR code read by a
    reader for "QRCode" is reported as "QRCode", a UPC-A read for "EAN13" as "EAN13".
    """

    def __init__(self, formats: Sequence[str]) -> None:
        self.formats = check_formats(formats)
        members = [zxingcpp.BarcodeFormat.__members__[n] for n in self.formats]
        self._zx_formats = zxingcpp.BarcodeFormats(members)
        # what each configured name covers (a family name covers its variants)
        self._covers = [
            (name, {f.name for f in zxingcpp.barcode_formats_list(zxingcpp.BarcodeFormats(member))})
            for name, member in zip(self.formats, members, strict=True)
        ]

    def _name(self, barcode: zxingcpp.Barcode) -> str:
        """The configured name a read's format falls under, e.g. "QRCode" for a Micro QR
        code read by a reader for "QRCode" alone."""
        found = barcode.format.name
        if found in self.formats:
            return found
        return next((name for name, covers in self._covers if found in covers), found)

    def _candidates(self, image: Image) -> list[zxingcpp.Barcode]:
        """Valid reads in `image`, largest outline first (the first found on a tie)."""
        found = [b for b in zxingcpp.read_barcodes(image, formats=self._zx_formats) if b.valid]
        found = [b for b in found if b.text]
        return sorted(found, key=_area, reverse=True)

    def _confirmed(self, image: Image, barcode: zxingcpp.Barcode) -> bool:
        """Whether a second decode of the code's surroundings in `image`, resampled to
        twice the size, gives the same text."""
        p = barcode.position
        xs = [pt.x for pt in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
        ys = [pt.y for pt in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
        w, h = max(xs) - min(xs), max(ys) - min(ys)
        mx, my = 0.15 * w + 12, max(h, 0.15 * w) + 12  # room for the quiet zones and bars
        x1, x2 = max(0, int(min(xs) - mx)), min(image.shape[1], int(max(xs) + mx) + 1)
        y1, y2 = max(0, int(min(ys) - my)), min(image.shape[0], int(max(ys) + my) + 1)
        region = image[y1:y2, x1:x2]
        if region.size == 0:
            return False
        big = cv2.resize(region, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
        return any(b.text == barcode.text for b in self._candidates(_u8(big)))

    def variants(self, crop: Image, effort: int = 1) -> Iterator[Image]:
        """The images `read` tries in order, for diagnostics: the plain grey crop first."""
        if effort not in (0, 1, 2):
            raise ValueError(f"effort must be 0, 1 or 2, got {effort}")
        gray = _gray(crop)
        yield gray
        steps = {0: (), 1: _EFFORT_1, 2: _EFFORT_1 + _EFFORT_2}[effort]
        for step in steps:
            image = step(gray)
            if image is not None:
                yield image

    def read(self, crop: Image, *, effort: int = 1) -> Read | None:
        """The code in `crop` (BGR HxWx3, or HxW grey), or None if none is read."""
        gray = _gray(crop)
        for image in self.variants(gray, effort):
            for barcode in self._candidates(image):
                if barcode.symbology.name not in _WEAK or self._confirmed(image, barcode):
                    return Read(format=self._name(barcode), text=barcode.text)
        return None
