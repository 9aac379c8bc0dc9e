"""The one way a pixel leaves the analysis path: `redact`, then (optionally) overlay, then encode.

Order: find people/faces on the original image, burn in the privacy masks, then obliterate
each person (or face and head) with a margin: strong pixelation followed by a blur, which
cannot be undone. If finding people fails or takes longer than the camera's budget, the
whole image is obliterated instead: fail closed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import cv2
import numpy as np

from onsight.errors import OnsightError
from onsight.privacy._encode import encode, write
from onsight.types import FloatArray, Image

log = logging.getLogger(__name__)

# Of the box size: left, top, right, bottom. More above: an arm raised to a shelf reaches
# well over the head, and detectors box the body, not the hand (store-aisle, frame 33).
_PERSON_MARGIN = (0.15, 0.3, 0.15, 0.15)
_FACE_MARGIN = 0.35
_MIN_MARGIN_PX = 6  # small, distant people get a wider margin than 15% of a few pixels
_HEAD_SHARE = 0.3  # top share of a person box treated as the head in `faces` mode
_BLOCK = 12  # pixelation cell in pixels
_WHOLE_FRAME_CELLS = 24  # cells across a fully obliterated frame
_MASK_COLOUR = (64, 64, 64)

Mode = Literal["people", "faces", "none"]

if TYPE_CHECKING:  # the config schema lists the apps, which use privacy.kanon
    from onsight.config.models import CameraConfig


class Finders(Protocol):
    """What redaction needs to know about an image: where people and faces are."""

    def people(self, image: Image) -> FloatArray: ...

    def faces(self, image: Image, threshold: float) -> FloatArray: ...


@dataclass(frozen=True)
class Redaction:
    image: Image
    mode: Mode
    regions: FloatArray  # normalised xyxy boxes that were obliterated
    fail_closed: bool = False
    reason: str = ""
    seconds: float = field(default=0.0, compare=False)


def redact(
    image: Image,
    camera: CameraConfig,
    finders: Finders,
    people: FloatArray | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Redaction:
    """A redacted copy of `image` following `camera.privacy`; never raises for a bad finder.

    `people` may pass person boxes already found by the pipeline; they are blurred in
    addition to what the finders see.
    """
    settings = camera.privacy
    start = clock()
    try:
        regions = _regions(image, settings.redaction, settings.face_confidence, finders, people)
    except Exception as exc:  # any failure must fail closed
        # Our own errors carry a safe, useful message; anything else is named by type only.
        why = str(exc) if isinstance(exc, OnsightError) else type(exc).__name__
        log.warning("camera %s: redaction failed; whole frame obliterated: %s", camera.name, why)
        return _whole_frame(image, settings.redaction, f"cannot find people: {why}")
    elapsed = clock() - start
    if elapsed * 1000.0 > settings.budget_ms:
        reason = f"finding people took {elapsed * 1000:.0f} ms > budget {settings.budget_ms} ms"
        log.warning("camera %s: %s; obliterating the whole frame", camera.name, reason)
        return _whole_frame(image, settings.redaction, reason)
    out = burn_masks(image, [[(p[0], p[1]) for p in mask] for mask in settings.masks])
    for box in regions:
        _obliterate_box(out, box)
    return Redaction(out, settings.redaction, regions, seconds=elapsed)


def _regions(
    image: Image, mode: Mode, face_threshold: float, finders: Finders, people: FloatArray | None
) -> FloatArray:
    if mode == "none":  # an inspection camera: products unblurred, still never a person
        # The pipeline's detections of this very frame, or (a snapshot) the finder's.
        found = finders.people(image) if people is None else np.asarray(people, np.float32)
        return _grow(found, _PERSON_MARGIN, image.shape)
    found = finders.people(image)
    if people is not None and len(people):
        found = np.concatenate([found.reshape(-1, 4), np.asarray(people, np.float32)])
    if mode == "people":
        return _grow(found, _PERSON_MARGIN, image.shape)
    heads = found.reshape(-1, 4).copy()
    heads[:, 3] = heads[:, 1] + (heads[:, 3] - heads[:, 1]) * _HEAD_SHARE
    faces = finders.faces(image, face_threshold).reshape(-1, 4)
    return _grow(np.concatenate([faces, heads]), _FACE_MARGIN, image.shape)


def _grow(
    boxes: FloatArray, margin: float | tuple[float, float, float, float], shape: tuple[int, ...]
) -> FloatArray:
    """Widen each box by `margin` of its size (one for all sides, or left, top, right,
    bottom), and by at least `_MIN_MARGIN_PX` pixels."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    height, width = shape[:2]
    floor = np.array([_MIN_MARGIN_PX / width, _MIN_MARGIN_PX / height] * 2, np.float32)
    size = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    share = np.asarray(margin, np.float32)
    grown = boxes + np.maximum(size * share, floor) * np.array([-1, -1, 1, 1], np.float32)
    return np.asarray(np.clip(grown, 0.0, 1.0), np.float32)


def burn_masks(image: Image, masks: list[list[tuple[float, float]]]) -> Image:
    """Copy of `image` with each normalised polygon filled solid."""
    out = image.copy()
    height, width = out.shape[:2]
    for mask in masks:
        points = np.round(np.array(mask) * [width - 1, height - 1]).astype(np.int32)
        cv2.fillPoly(out, [points], _MASK_COLOUR)
    return out


def obliterate_people(image: Image, people: FloatArray) -> None:
    """Obliterate, in place, each person box (normalised to `image`; boxes reaching past its
    edges are cut) with the usual margin."""
    for box in _grow(people, _PERSON_MARGIN, image.shape):
        _obliterate_box(image, box)


def _obliterate_box(image: Image, box: FloatArray) -> None:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    left, top = int(x1 * width), int(y1 * height)
    right, bottom = int(np.ceil(x2 * width)), int(np.ceil(y2 * height))
    if right > left and bottom > top:
        image[top:bottom, left:right] = obliterate(image[top:bottom, left:right])


def obliterate(region: Image, cells: int | None = None) -> Image:
    """Pixelate (cells of `_BLOCK` px, or `cells` across) then blur: detail cannot come back."""
    h, w = region.shape[:2]
    block = max(1, w // cells) if cells else _BLOCK
    small = cv2.resize(
        region, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA
    )
    blocky = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    k = max(3, (min(h, w) // 4) | 1)
    return np.asarray(cv2.GaussianBlur(blocky, (k, k), 0), dtype=np.uint8)


def _whole_frame(image: Image, mode: Mode, reason: str) -> Redaction:
    everything = np.array([[0.0, 0.0, 1.0, 1.0]], np.float32)
    return Redaction(obliterate(image, _WHOLE_FRAME_CELLS), mode, everything, True, reason)


def encode_redacted(redaction: Redaction, suffix: str = ".jpg", quality: int = 85) -> bytes:
    """The bytes of a redacted image (for the live view): only a `Redaction` can be encoded."""
    return encode(redaction.image, suffix, quality)


def save_redacted(
    path: Path, redaction: Redaction, overlay: Callable[[Image], None] | None = None
) -> None:
    """Write a redacted image (JPEG or PNG by suffix), after drawing `overlay` on a copy.

    Overlays draw lines, zones and outlines: never pixels of people.
    """
    image = redaction.image.copy()
    if overlay is not None:
        overlay(image)
    write(path, image)
