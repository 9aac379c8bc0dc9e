"""Thermal images leave only with every skin-warm region made unrecognisable.

A thermal image shows a person's outline, face and posture even in the dark. Anything in the
human-skin temperature band could be a person, so each connected warm region (with a margin)
is pixelated then blurred before the image is encoded. If that fails, the whole image is:
fail closed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from onsight.privacy._encode import write
from onsight.privacy.redact import obliterate
from onsight.types import Image

log = logging.getLogger(__name__)

SKIN_BAND_C = (28.0, 42.0)  # covers skin and clothing over skin at room temperature
_MARGIN = 0.04  # of the image's shorter side, added around every warm region
_MIN_MARGIN_PX = 3
_FAIL_CLOSED_CELLS = 12  # pixelation cells across the image when redaction fails


def warm_mask(celsius: npt.NDArray[np.float64], shape: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """255 where a pixel (of an image of `shape`) is near the skin band, else 0.

    Unknown temperatures (NaN) count as warm: a pixel we cannot read could be a person.
    """
    temps = np.asarray(celsius, dtype=np.float64)
    low, high = SKIN_BAND_C
    with np.errstate(invalid="ignore"):
        warm = ~np.isfinite(temps) | ((temps >= low) & (temps <= high))
    mask: npt.NDArray[np.uint8] = np.where(warm, 255, 0).astype(np.uint8)
    height, width = shape
    if mask.shape != (height, width):  # a colour image upscaled for display
        resized = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
        mask = np.asarray(resized, dtype=np.uint8)
    margin = max(_MIN_MARGIN_PX, round(_MARGIN * min(height, width)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return np.asarray(cv2.dilate(mask, kernel), dtype=np.uint8)


def redact_warm_regions(celsius: npt.NDArray[np.float64], colour: Image) -> Image:
    """Copy of `colour` with the bounding box of every warm region obliterated."""
    mask = warm_mask(celsius, (colour.shape[0], colour.shape[1]))
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = colour.copy()
    for x, y, w, h in stats[1:count, :4]:  # label 0 is the background
        out[y : y + h, x : x + w] = obliterate(out[y : y + h, x : x + w])
    return out


def save_thermal_redacted(path: Path, celsius: npt.NDArray[np.float64], colour: Image) -> None:
    """Write `colour` (a false-colour view of `celsius`) as JPEG/PNG with warm regions removed."""
    try:
        safe = redact_warm_regions(celsius, colour)
    except Exception:
        log.exception("thermal redaction failed; writing a fully obliterated image instead")
        safe = obliterate(colour, _FAIL_CLOSED_CELLS)
    write(path, safe)
