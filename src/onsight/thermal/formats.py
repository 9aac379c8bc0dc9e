"""Read radiometric thermal files: FLIR JPEG, FFF (either byte order) and SEQ.

Anything else is refused with a `ThermalFormatError` that says why: an ordinary photo, a DJI
R-JPEG (its format needs DJI's proprietary SDK), or a damaged file. EXIF is only consulted for
the camera maker in IFD0; the GPS directory is never followed.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from onsight.thermal.flir import (
    FFF_MAGICS,
    Buffer,
    ThermalFormatError,
    corrupt,
    fff_from_app1,
    iter_fff,
    jpeg_app1_payloads,
    read_fff,
)
from onsight.thermal.planck import (
    PlanckParams,
    RadiometricFrame,
    ThermalImage,
    TLinearFrame,
    raw_to_celsius,
    tlinear_to_celsius,
)

__all__ = [
    "PlanckParams",
    "RadiometricFrame",
    "TLinearFrame",
    "ThermalFormatError",
    "ThermalImage",
    "false_colour",
    "iter_seq",
    "raw_to_celsius",
    "read_thermal",
    "tlinear_to_celsius",
]

# A fixed range, so one colour means one temperature in every image and frame.
FALSE_COLOUR_RANGE_C = (15.0, 45.0)
_EXIF_MAKE = 0x010F


def read_thermal(path: Path) -> ThermalImage:
    """The first radiometric frame of a FLIR JPEG, FFF or SEQ file."""
    frames = iter_seq(path)
    try:
        return next(frames)
    finally:
        frames.close()


def iter_seq(path: Path) -> Generator[ThermalImage, None, None]:
    """Every frame of a SEQ file in order (a JPEG or FFF file has exactly one)."""
    name = str(path)
    with path.open("rb") as handle:
        if handle.seek(0, 2) == 0:
            raise corrupt(name, "the file is empty")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield from _frames(data, name)


def _frames(data: Buffer, name: str) -> Iterator[ThermalImage]:
    head = data[:4]
    if head[:2] == b"\xff\xd8":
        yield read_fff(_jpeg_fff(data, name), 0, name)[0]
    elif head in FFF_MAGICS:
        yield from iter_fff(data, name)
    else:
        raise _not_radiometric(name)


def _jpeg_fff(data: Buffer, name: str) -> bytes:
    payloads = jpeg_app1_payloads(data, name)
    block = fff_from_app1(payloads, name)
    if block is not None:
        return block
    make = _exif_make(payloads)
    if make.upper().startswith("DJI"):
        raise ThermalFormatError(
            f"unsupported radiometric format: DJI R-JPEG in {name} (it needs DJI's proprietary "
            "Thermal SDK; onsight reads FLIR JPEG, FFF and SEQ files)"
        )
    raise _not_radiometric(name)


def _not_radiometric(name: str) -> ThermalFormatError:
    return ThermalFormatError(f"not radiometric: no FLIR thermal data in {name}")


def _exif_make(payloads: list[bytes]) -> str:
    """The EXIF Make tag from IFD0 only (no sub-directory, so never GPS); "" if absent."""
    for payload in payloads:
        if payload[:6] == b"Exif\0\0":
            try:
                return _ifd0_ascii(payload[6:], _EXIF_MAKE)
            except struct.error:
                return ""  # a damaged EXIF block only matters for the error message
    return ""


def _ifd0_ascii(tiff: bytes, tag: int) -> str:
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return ""
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for i in range(count):
        entry = ifd + 2 + 12 * i
        entry_tag, kind, length = struct.unpack_from(order + "HHI", tiff, entry)
        if entry_tag == tag and kind == 2:  # ASCII
            (at,) = struct.unpack_from(order + "I", tiff, entry + 8)
            raw = tiff[entry + 8 : entry + 12] if length <= 4 else tiff[at : at + length]
            return raw.split(b"\0")[0].decode("ascii", "replace").strip()
    return ""


def false_colour(
    celsius: npt.NDArray[np.float64], range_c: tuple[float, float] = FALSE_COLOUR_RANGE_C
) -> npt.NDArray[np.uint8]:
    """BGR display image: `range_c` maps onto the inferno palette; unknown pixels are black."""
    low, high = range_c
    scaled = (np.asarray(celsius, dtype=np.float64) - low) * (255.0 / (high - low))
    grey = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0).clip(0, 255)
    import cv2  # not at import time: `onsight --help` reads this module

    return np.asarray(cv2.applyColorMap(grey.astype(np.uint8), cv2.COLORMAP_INFERNO))
