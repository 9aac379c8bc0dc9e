"""The one way a pixel leaves the analysis path: redact, then (optionally) overlay, then encode.

People are pixelated then blurred with a margin around each box, which cannot be undone.
If anything in redaction fails, the whole frame is pixelated instead: fail closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from onsight.privacy._encode import write
from onsight.types import FloatArray, Image

log = logging.getLogger(__name__)

_MARGIN = 0.15  # of the box size, on every side
_BLOCK = 12  # pixelation cell in pixels


def redact_people(image: Image, boxes: FloatArray) -> Image:
    """Copy of `image` with every normalised box (plus margin) made unrecognisable."""
    out = image.copy()
    height, width = out.shape[:2]
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        mx, my = (x2 - x1) * _MARGIN, (y2 - y1) * _MARGIN
        left, top = int(max(0, (x1 - mx) * width)), int(max(0, (y1 - my) * height))
        right = int(min(width, np.ceil((x2 + mx) * width)))
        bottom = int(min(height, np.ceil((y2 + my) * height)))
        if right > left and bottom > top:
            out[top:bottom, left:right] = _obliterate(out[top:bottom, left:right])
    return out


def _obliterate(region: Image) -> Image:
    h, w = region.shape[:2]
    small = cv2.resize(
        region, (max(1, w // _BLOCK), max(1, h // _BLOCK)), interpolation=cv2.INTER_AREA
    )
    blocky = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    k = max(3, (min(h, w) // 4) | 1)
    return np.asarray(cv2.GaussianBlur(blocky, (k, k), 0), dtype=np.uint8)


def save_redacted(
    path: Path,
    image: Image,
    people: FloatArray,
    overlay: Callable[[Image], None] | None = None,
    quality: int = 85,
) -> None:
    """Redact `people`, draw `overlay` (lines, zones, outlines; no people pixels), write a JPEG."""
    try:
        safe = redact_people(image, people)
    except Exception:
        log.exception("redaction failed; writing a fully pixelated frame instead")
        safe = _obliterate(image)
    if overlay is not None:
        overlay(safe)
    write(path, safe, quality)
