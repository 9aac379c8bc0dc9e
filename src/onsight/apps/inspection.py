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
import threading
from collections import deque
from collections.abc import Callable, Sequence
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
_RECENT_FRAMES = 80  # frames whose time and people are kept (more than the tracker replays)
_READ_MARGIN = 0.08  # of the item's size, added around its box for reading
_READ_EVERY_S = 0.1  # an item's code is tried at most this often (reads cost CPU) ...
_MAX_READ_TRIES = 100  # ... and this many times on whole views, and again on partial ones
# A minute is released this long after it ends: an item belongs to the minute it was last
# seen in, and is known to have left only `items._LOST_S` later.
_RELEASE_LAG = timedelta(seconds=2)
_REJECTS_KEPT = 12  # recent rejects kept in memory for the dashboard
_GOOD_KEPT = 200  # recent good items kept in memory, to learn a reference from
_CODES_KEPT = 100_000  # codes listed in the summary (a file run); counts go on beyond


@dataclass(frozen=True)
class RejectShot:
    """A recent reject for the dashboard (in memory only; images privacy-safe)."""

    number: int  # running number of rejects on this camera since start
    time: datetime
    score: float
    threshold: float
    item: Image
    heatmap: Image


@dataclass
class _Outcome:
    """What happened to one item (kept on `Item.extra` while it is tracked)."""

    read: Read | None = None
    read_time: datetime | None = None
    candidate: Read | None = None  # a weak-format read waiting for a second, equal one
    tries_whole: int = 0
    tries_partial: int = 0
    last_try: float = float("-inf")  # pts


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
    """One camera's inspection: tracks items, reads codes, scores defects, counts.

    The pipeline thread calls `update` and `flush`; the dashboard may call `summary`,
    `state`, `recent_rejects`, `recent_good` and `use_reference` from other threads.
    """

    def __init__(
        self,
        camera: str,
        config: InspectionConfig,
        barcodes: BarcodesConfig | None,
        reference: Reference | None,
        *,
        masks: Sequence[Sequence[Sequence[float]]] = (),
        reference_path: Path | None = None,
    ) -> None:
        self.camera = camera
        self.config = config
        self.reference_path = reference_path
        self._masks = [[(float(p[0]), float(p[1])) for p in mask] for mask in masks]
        self._patterns = barcodes.patterns() if barcodes is not None else {}
        self._reader: BarcodeReader | None = None
        if barcodes is not None:
            from onsight.inspection.barcodes import BarcodeReader

            self._reader = BarcodeReader(barcodes.formats)
        self._reference = reference
        self._tracker = ItemTracker(
            config.region, config.travel, min_item_share=config.min_item_share
        )
        self._lock = threading.Lock()  # counts, recent items and the reference
        self._minutes: dict[datetime, _Totals] = {}
        self._totals = _Totals()
        self._codes: list[str] = []  # in order of passing, up to `_CODES_KEPT`
        self._rejects: deque[RejectShot] = deque(maxlen=_REJECTS_KEPT)
        self._reject_count = 0
        self._good: deque[Image] = deque(maxlen=_GOOD_KEPT)
        # Time and people of the last frames: frames replayed after learning the belt are
        # stamped and cleared with their own.
        self._recent: deque[tuple[float, datetime, FloatArray]] = deque(maxlen=_RECENT_FRAMES)
        # Called with each passed item's kept image (`inspect collect`).
        self.on_item: Callable[[Image], None] | None = None

    def update(self, view: FrameView) -> list[Event]:
        if view.image is None:  # the kind asks for images; this would be a pipeline bug
            raise RuntimeError("the inspection app needs the frame image")
        people = view.people if view.people is not None else view.xyxy
        self._recent.append((view.pts, view.wall_time, people))
        events = self._passed(self._tracker.update(view.image, view.pts))
        return events + self._release(_minute(view.wall_time - _RELEASE_LAG))

    def flush(self) -> list[Event]:
        if not self._recent:
            return []
        return self._passed(self._tracker.finish()) + self._release(None)

    def use_reference(self, reference: Reference | None) -> None:
        """Score items from now on against `reference` (e.g. one just learned)."""
        with self._lock:
            self._reference = reference

    def recent_rejects(self) -> list[RejectShot]:
        """The latest rejects, newest first."""
        with self._lock:
            return list(reversed(self._rejects))

    def recent_good(self) -> list[Image]:
        """The latest passed items that were not rejected, newest first."""
        with self._lock:
            return list(reversed(self._good))

    def _passed(self, frame: Frame) -> list[Event]:
        """Reads of the items seen, then the items that left."""
        events: list[Event] = []
        for seen in frame.visible:  # this frame's, or the frames replayed after learning
            item = seen.item
            if item.best_pts == seen.pts:  # its best crop so far: where people are in it
                item.extra["people"] = _people_in_crop(seen, self._people_at(seen.pts))
                item.extra["frame_size"] = seen.image.shape[1], seen.image.shape[0]
            self._try_read(item, seen)
        for item in frame.left:
            events.extend(self._leave(item))
        return events

    # --- per item ---

    def _try_read(self, item: Item, seen: Sighting) -> None:
        if self._reader is None:
            return
        outcome = _outcome(item)
        tries = outcome.tries_whole if seen.inside else outcome.tries_partial
        if (
            outcome.read is not None
            or tries >= _MAX_READ_TRIES
            or seen.pts - outcome.last_try < _READ_EVERY_S - 1e-6
        ):
            return
        outcome.last_try = seen.pts
        if seen.inside:
            outcome.tries_whole += 1
        else:
            outcome.tries_partial += 1
        # The fallbacks (upscaling, deblurring) are spent on views of the whole item; a label
        # at its edge keeps its quiet zone in the margin.
        read = self._reader.read(_padded(seen.image, seen.box), effort=1 if seen.inside else 0)
        if read is None:
            return
        if read.format in _WEAK_FORMATS and outcome.candidate != read:
            outcome.candidate = read  # a code without a strong check digit must repeat
            return
        outcome.read, outcome.read_time = read, self._wall(seen.pts)

    def _people_at(self, pts: float) -> FloatArray:
        """The people found in the frame at `pts`; if it is no longer known, everyone
        found in the frames kept (more is hidden, never less)."""
        for seen_pts, _, people in self._recent:
            if seen_pts == pts:
                return people
        kept = [people for _, _, people in self._recent if len(people)]
        return np.concatenate(kept) if kept else np.zeros((0, 4), np.float32)

    def _pattern(self, read: Read) -> re.Pattern[str] | None:
        return self._patterns.get(read.format, self._patterns.get(""))

    def _leave(self, item: Item) -> list[Event]:
        """An item that passed: its read (or unread) and its score, counted once."""
        when = self._wall(item.last_pts)
        counts = _Totals(passed=1)
        events: list[Event] = []
        if self._reader is not None:
            outcome = _outcome(item)
            read = outcome.read
            if read is None:
                counts.unread = 1
                events.append(BarcodeUnread(when, self.camera, self.config.name))
            else:
                counts.read = 1
                read_time = outcome.read_time or when
                events.append(BarcodeRead(read_time, self.camera, self.config.name, *_fields(read)))
                pattern = self._pattern(read)
                if pattern is not None and not pattern.fullmatch(read.text):
                    counts.wrong_labels = 1
                    events.append(
                        WrongLabel(
                            read_time, self.camera, self.config.name, *_fields(read),
                            pattern.pattern,
                        )
                    )  # fmt: skip
        kept = _kept_image(item, self._masks) if item.best is not None else None
        if kept is not None and self.on_item is not None:
            self.on_item(kept)
        with self._lock:
            reference = self._reference
        reject: DefectReject | None = None
        if reference is not None and item.best is not None and kept is not None:
            counts.inspected = 1
            scored = reference.score(item.best)
            if scored.score > reference.threshold:
                counts.rejected = 1
                reject = self._reject(item, kept, scored.score, scored.heatmap, reference)
                events.append(reject)
        with self._lock:
            self._minutes.setdefault(_minute(when), _Totals()).add(counts)
            if counts.read and len(self._codes) < _CODES_KEPT:
                read_text = _outcome(item).read
                assert read_text is not None
                self._codes.append(read_text.text)
            if kept is not None and reject is None:
                self._good.append(kept)
        return events

    def _reject(
        self, item: Item, kept: Image, score: float, heatmap: FloatArray, reference: Reference
    ) -> DefectReject:
        from onsight.inspection.reference import overlay

        threshold = reference.threshold
        shown = overlay(kept, heatmap, threshold)
        when = self._wall(item.best_pts)
        with self._lock:
            self._reject_count += 1
            self._rejects.append(
                RejectShot(self._reject_count, when, score, threshold, kept, shown)
            )
        return DefectReject(
            when,
            self.camera,
            self.config.name,
            round(score, 4),
            round(threshold, 4),
            Evidence({"item": kept, "heatmap": shown}),
        )

    # --- minutes ---

    def _release(self, before: datetime | None) -> list[Event]:
        """Minutes that are over (all, at the end)."""
        events: list[Event] = []
        with self._lock:
            for minute in sorted(self._minutes):
                if before is not None and minute >= before:
                    continue
                counts = self._minutes.pop(minute)
                self._totals.add(counts)
                events.append(
                    InspectionMinute(minute, self.camera, self.config.name, **vars(counts))
                )
        return events

    def _wall(self, pts: float) -> datetime:
        """The wall time of the frame at `pts`: as the pipeline stamped it if still known,
        else from the nearest frame kept."""
        nearest = min(self._recent, key=lambda kept: abs(kept[0] - pts))
        return nearest[1] + timedelta(seconds=pts - nearest[0])

    def _counts(self) -> _Totals:
        totals = _Totals()
        with self._lock:
            totals.add(self._totals)
            for counts in self._minutes.values():
                totals.add(counts)
        return totals

    def summary(self) -> dict[str, Any]:
        totals = self._counts()
        out: dict[str, Any] = {
            "inspection": {
                "items": totals.passed,
                "inspected": totals.inspected,
                "rejected": totals.rejected,
                "unread": totals.unread,
            }
        }
        if self._reader is not None:
            with self._lock:
                codes = list(self._codes)
            out["barcodes"] = {
                "items": totals.passed,
                "read": totals.read,
                "unread": totals.unread,
                "codes": codes,
            }
        return out

    def state(self) -> dict[str, Any]:
        totals = self._counts()
        barcodes = self._reader is not None
        return {
            "name": self.config.name,
            "polygon": self.config.region,
            "items": totals.passed,
            "rejected": totals.rejected,
            "unread": totals.unread if barcodes else None,
            "read": totals.read if barcodes else None,
            "wrong_labels": totals.wrong_labels if barcodes else None,
            "read_rate": (
                round(totals.read / totals.passed, 4) if barcodes and totals.passed else None
            ),
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


def _kept_image(item: Item, masks: list[list[tuple[float, float]]]) -> Image:
    """A copy of the item's best crop fit to keep or show: the camera's privacy masks burned
    in and any person the detector found obliterated (scores and reads use the crop as the
    camera saw it)."""
    from onsight.privacy.redact import burn_masks, obliterate_people

    assert item.best is not None
    shown = item.best.copy()
    size = item.extra.get("frame_size")
    if masks and item.best_box is not None and isinstance(size, tuple):
        frame_w, frame_h = size
        x1, y1, x2, y2 = item.best_box
        width, height = max(1, x2 - x1), max(1, y2 - y1)
        in_crop = [
            [((x * frame_w - x1) / width, (y * frame_h - y1) / height) for x, y in mask]
            for mask in masks
        ]
        shown = burn_masks(shown, in_crop)
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
    return Inspector(
        camera.name,
        config,
        camera.barcodes,
        reference,
        masks=camera.privacy.masks,
        reference_path=None if config.reference is None else Path(config.reference),
    )


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
