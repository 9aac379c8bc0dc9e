"""Production-line inspection: items passing through a region, each inspected once.

Items are found by `inspection.items.ItemTracker` (foreground against the empty belt, no
trained detector). For each item:
- barcodes (the camera's `barcodes:` section): its crop is read frame by frame until one read
  succeeds, so an item yields at most one `barcode_read`; an item that leaves unread is a
  `barcode_unread`, and a read that does not match `expect` is a `wrong_label` alert;
- defects (`inspection.reference`, from `onsight inspect learn`): its best frame (the
  sharpest one fully inside the region) is scored against the reference of good items
  when it leaves; a score above the reference's threshold is a `defect_reject` alert, with
  the item's image and heatmap kept as media when the site keeps media (72 h at most).
Per minute, `inspection_minute` counts items passed, inspected, rejected and unread.

These cameras film products, not people: counts are of items, and an item's number lives
in memory only. A person in the picture is still found by the detector and obliterated in
any saved image.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from onsight.apps.base import AppKind, FrameView
from onsight.errors import ConfigError
from onsight.inspection.config import BarcodesConfig, InspectionConfig
from onsight.inspection.events import (
    BARCODE_READ,
    BARCODE_UNREAD,
    DEFECT_REJECT,
    INSPECTION_MINUTE,
    WRONG_LABEL,
    BarcodeRead,
    BarcodeUnread,
    DefectReject,
    Evidence,
    InspectionMinute,
    WrongLabel,
)
from onsight.inspection.items import Frame, Item, ItemTracker, Sighting
from onsight.types import Event, FloatArray, Image

if TYPE_CHECKING:
    from onsight.config.models import CameraConfig
    from onsight.inspection.barcodes import BarcodeReader, Read
    from onsight.inspection.reference import Reference

# Formats whose symbology has no check digit or a weak one: a read must be seen twice.
_WEAK_FORMATS = frozenset({"Code39", "Codabar", "ITF", "Code93", "DataBar"})
_PEOPLE_KEPT = 80  # frames whose person boxes are kept (more than the tracker replays)
_READ_MARGIN = 0.08  # of the item's size, added around its box for reading
_MAX_READ_TRIES = 40  # frames an item's code is tried on (reads cost CPU; a code seen is read)


@dataclass
class _Outcome:
    """What happened to one item (kept on `Item.extra` while it is tracked)."""

    read: Read | None = None
    candidate: Read | None = None  # a weak-format read waiting for a second, equal one
    tries: int = 0


@dataclass
class _Totals:
    passed: int = 0
    inspected: int = 0
    rejected: int = 0
    read: int = 0
    unread: int = 0
    wrong_labels: int = 0

    def add(self, other: _Totals) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Inspector:
    """One camera's inspection: tracks items, reads codes, scores defects, counts."""

    def __init__(
        self,
        camera: str,
        config: InspectionConfig,
        barcodes: BarcodesConfig | None,
        reference: Reference | None,
    ) -> None:
        self.camera = camera
        self.config = config
        self._barcodes = barcodes
        self._patterns = barcodes.patterns() if barcodes is not None else {}
        self._reader: BarcodeReader | None = None
        if barcodes is not None:
            from onsight.inspection.barcodes import BarcodeReader

            self._reader = BarcodeReader(barcodes.formats)
        self._reference = reference
        self._tracker = ItemTracker(
            config.region, config.travel, min_item_share=config.min_item_share
        )
        self._minutes: dict[datetime, _Totals] = {}
        self.totals = _Totals()
        self.codes: list[str] = []  # in order of passing
        self.dropped = 0  # blobs that never became items (noise)
        self._start: tuple[float, datetime] | None = None  # a (pts, wall time) pair
        # Person boxes of the last frames, for crops of frames replayed after learning.
        self._recent_people: deque[tuple[float, FloatArray]] = deque(maxlen=_PEOPLE_KEPT)
        # Called with each passed item's best image, people obliterated (`inspect collect`).
        self.on_item: Callable[[Image], None] | None = None

    def update(self, view: FrameView) -> list[Event]:
        if view.image is None:  # the kind asks for images; this would be a pipeline bug
            raise RuntimeError("the inspection app needs the frame image")
        if self._start is None:
            self._start = (view.pts, view.wall_time)
        people = view.people if view.people is not None else view.xyxy
        self._recent_people.append((view.pts, people))
        events = self._passed(self._tracker.update(view.image, view.pts))
        return events + self._release(_minute(view.wall_time))

    def flush(self) -> list[Event]:
        return self._passed(self._tracker.finish()) + self._release(None)

    def _passed(self, frame: Frame) -> list[Event]:
        """Reads of the items seen, then the items that left."""
        events: list[Event] = []
        for seen in frame.visible:  # this frame's, or the frames replayed after learning
            item = seen.item
            if item.best_pts == seen.pts:  # its best crop so far: where people are in it
                item.extra["people"] = _people_in_crop(seen, self._people_at(seen.pts))
            padded = _padded(seen.image, seen.box)  # a label at the edge keeps its quiet zone
            events.extend(self._try_read(item, padded, seen.inside, self._wall(seen.pts)))
        self.dropped += frame.dropped
        for item in frame.left:
            events.extend(self._leave(item))
        return events

    # --- per item ---

    def _try_read(self, item: Item, crop: Image, inside: bool, now: datetime) -> list[Event]:
        if self._reader is None:
            return []
        outcome = _outcome(item)
        if outcome.read is not None or outcome.tries >= _MAX_READ_TRIES:
            return []
        outcome.tries += 1
        # The fallbacks (upscaling, deblurring) are spent on frames showing the whole item.
        read = self._reader.read(crop, effort=1 if inside else 0)
        if read is None:
            return []
        if read.format in _WEAK_FORMATS and outcome.candidate != read:
            outcome.candidate = read  # a code without a strong check digit must repeat
            return []
        outcome.read = read
        events: list[Event] = [BarcodeRead(now, self.camera, self.config.name, *_fields(read))]
        pattern = self._pattern(read)
        if pattern is not None and not pattern.fullmatch(read.text):
            events.append(
                WrongLabel(now, self.camera, self.config.name, *_fields(read), pattern.pattern)
            )
        return events

    def _people_at(self, pts: float) -> FloatArray:
        """The people found in the frame at `pts`; if it is no longer known, everyone
        found in the frames kept (more is hidden, never less)."""
        for seen_pts, people in self._recent_people:
            if seen_pts == pts:
                return people
        kept = [people for _, people in self._recent_people if len(people)]
        return np.concatenate(kept) if kept else np.zeros((0, 4), np.float32)

    def _pattern(self, read: Read) -> re.Pattern[str] | None:
        return self._patterns.get(read.format, self._patterns.get(""))

    def _leave(self, item: Item) -> list[Event]:
        when = self._wall(item.last_pts)
        counts = self._minutes.setdefault(_minute(when), _Totals())
        counts.passed += 1
        events: list[Event] = []
        if self._reader is not None:
            read = _outcome(item).read
            if read is None:
                counts.unread += 1
                events.append(BarcodeUnread(when, self.camera, self.config.name))
            else:
                counts.read += 1
                self.codes.append(read.text)
                pattern = self._pattern(read)
                if pattern is not None and not pattern.fullmatch(read.text):
                    counts.wrong_labels += 1
        if self.on_item is not None and item.best is not None:
            self.on_item(_without_people(item, item.best))
        if self._reference is not None and item.best is not None:
            counts.inspected += 1
            scored = self._reference.score(item.best)
            if scored.score > self._reference.threshold:
                counts.rejected += 1
                events.append(self._reject(item, item.best, scored.score, scored.heatmap))
        return events

    def _reject(self, item: Item, crop: Image, score: float, heatmap: FloatArray) -> DefectReject:
        from onsight.inspection.reference import overlay

        assert self._reference is not None
        threshold = self._reference.threshold
        shown = _without_people(item, crop)
        evidence = Evidence({"item": shown, "heatmap": overlay(shown, heatmap, threshold)})
        return DefectReject(
            self._wall(item.best_pts),
            self.camera,
            self.config.name,
            round(score, 4),
            round(threshold, 4),
            evidence,
        )

    # --- minutes ---

    def _release(self, before: datetime | None) -> list[Event]:
        """Minutes that are over (all, at the end)."""
        events: list[Event] = []
        for minute in sorted(self._minutes):
            if before is not None and minute >= before:
                continue
            counts = self._minutes.pop(minute)
            self.totals.add(counts)
            events.append(InspectionMinute(minute, self.camera, self.config.name, **vars(counts)))
        return events

    def _wall(self, pts: float) -> datetime:
        assert self._start is not None
        start_pts, start_wall = self._start
        return start_wall + timedelta(seconds=pts - start_pts)

    def summary(self) -> dict[str, Any]:
        totals = _Totals()
        totals.add(self.totals)
        for counts in self._minutes.values():
            totals.add(counts)
        out: dict[str, Any] = {
            "inspection": {
                "items": totals.passed,
                "inspected": totals.inspected,
                "rejected": totals.rejected,
                "unread": totals.unread,
            }
        }
        if self._reader is not None:
            out["barcodes"] = {
                "items": totals.passed,
                "read": totals.read,
                "unread": totals.unread,
                "codes": list(self.codes),
            }
        return out

    def state(self) -> dict[str, Any]:
        totals = self.summary()["inspection"]
        return {
            "name": self.config.name,
            "polygon": self.config.region,
            "items": totals["items"],
            "rejected": totals["rejected"],
            "unread": totals["unread"],
            "in_view": len(self._tracker.active),
        }


def _outcome(item: Item) -> _Outcome:
    outcome = item.extra.get("outcome")
    if not isinstance(outcome, _Outcome):
        outcome = _Outcome()
        item.extra["outcome"] = outcome
    return outcome


def _fields(read: Read) -> tuple[str, str]:
    return read.format, read.text


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _padded(image: Image, box: tuple[int, int, int, int]) -> Image:
    """The item's box widened by `_READ_MARGIN` of its size (at least 8 px) on every side:
    a code printed near the item's edge needs its quiet zone to read."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    dx = max(8, round((x2 - x1) * _READ_MARGIN))
    dy = max(8, round((y2 - y1) * _READ_MARGIN))
    return image[max(0, y1 - dy) : min(height, y2 + dy), max(0, x1 - dx) : min(width, x2 + dx)]


def _without_people(item: Item, crop: Image) -> Image:
    """A copy of the item's best crop for keeping: it shows no one (scores and reads use the
    crop as the camera saw it)."""
    from onsight.privacy.redact import obliterate_people

    shown = crop.copy()
    people = item.extra.get("people")
    if isinstance(people, np.ndarray) and len(people):
        obliterate_people(shown, people)
    return shown


def _people_in_crop(seen: Sighting, people: FloatArray) -> FloatArray:
    """Person boxes (normalised to the frame: a hand reaching over the belt) as boxes
    normalised to the item's crop in that frame (they may reach past it)."""
    if not len(people):
        return np.zeros((0, 4), np.float32)
    frame_h, frame_w = seen.image.shape[:2]
    x1, y1, x2, y2 = seen.box
    to_crop = np.array([x1 / frame_w, y1 / frame_h] * 2, np.float32)
    scale = np.array([frame_w / max(1, x2 - x1), frame_h / max(1, y2 - y1)] * 2, np.float32)
    return np.asarray((people - to_crop) * scale, np.float32)


def _build(camera: CameraConfig, config: InspectionConfig, _: list[str]) -> Inspector:
    reference = None
    if config.reference is not None:
        from onsight.inspection.reference import Reference

        path = Path(config.reference)
        try:
            reference = Reference.load(path)
        except FileNotFoundError:
            raise ConfigError(
                f"camera {camera.name!r}: no defect reference at {path}; make one with "
                f"`onsight inspect learn CONFIG --camera {camera.name} --good DIR`"
            ) from None
    return Inspector(camera.name, config, camera.barcodes, reference)


def _describe(config: InspectionConfig) -> str:
    scored = "scored for defects" if config.reference else "counted"
    return f"{config.name}: items moving {config.travel}, {scored}"


KIND: AppKind[InspectionConfig, Inspector] = AppKind(
    name="inspection",
    section="inspection",
    config=InspectionConfig,
    build=_build,
    events=(INSPECTION_MINUTE, DEFECT_REJECT, BARCODE_READ, BARCODE_UNREAD, WRONG_LABEL),
    measures="products passing on a line: items counted, defects scored against good "
    "samples, barcodes read once per item",
    purposes=frozenset({"inspection"}),
    heading="Product inspection",
    describe=_describe,
    summary=Inspector.summary,
    state=Inspector.state,
    live=(("items", "Items"), ("rejected", "Rejected"), ("unread", "Unread")),
    needs_image=True,
    single=True,
    summary_sections=True,
    notice_note="This camera films products on a line. Nobody is counted or measured. A "
    "person who appears in the picture is blurred in every image shown or kept. Images of "
    "rejected items are kept only if the site keeps media, and then for at most 72 hours.",
)
