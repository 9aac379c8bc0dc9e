"""What an inspection camera records: items per minute, reads, unread items, wrong labels
and defect rejects, and how each is stored and published (`apps.base.EventType`).

Counts are of products. No event names an item: its running number lives in memory only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from onsight.apps.base import Column, EventType
from onsight.types import Image, Stamped


@dataclass(frozen=True)
class Evidence:
    """Images kept with an alert when the site keeps media (never stored in a table). Any
    person in them was obliterated when the crop was taken."""

    images: dict[str, Image]  # file stem -> image (e.g. "item", "heatmap")


@dataclass(frozen=True, slots=True)
class InspectionMinute(Stamped):
    """Items that left the region in one minute."""

    minute: datetime  # UTC, start of the minute
    camera: str
    line: str
    passed: int
    inspected: int  # scored against the defect reference
    rejected: int
    read: int  # barcodes read
    unread: int  # items that left without a read (cameras with `barcodes:`)
    wrong_labels: int

    @property
    def kind(self) -> str:
        return "inspection_minute"


@dataclass(frozen=True)
class DefectReject(Stamped):
    """An item scored above the reference's threshold."""

    time: datetime  # UTC, the item's best frame
    camera: str
    line: str
    score: float
    threshold: float
    evidence: Evidence | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> str:
        return "defect_reject"


@dataclass(frozen=True, slots=True)
class BarcodeRead(Stamped):
    """The one read of one item's code."""

    time: datetime  # UTC, the frame it was read in
    camera: str
    line: str
    format: str
    text: str

    @property
    def kind(self) -> str:
        return "barcode_read"


@dataclass(frozen=True, slots=True)
class BarcodeUnread(Stamped):
    """An item left the region without its code being read."""

    time: datetime  # UTC, when it was last seen
    camera: str
    line: str

    @property
    def kind(self) -> str:
        return "barcode_unread"


@dataclass(frozen=True)
class WrongLabel(Stamped):
    """A read that does not match the camera's `barcodes.expect`."""

    time: datetime
    camera: str
    line: str
    format: str
    text: str
    expected: str  # the pattern

    @property
    def kind(self) -> str:
        return "wrong_label"


INSPECTION_MINUTE = EventType(
    kind="inspection_minute",
    event=InspectionMinute,
    table="inspection_minutes",
    time_column="minute",
    name_column="line",
    topic="inspection",
    label="items inspected per minute",
    description="Items that left the inspection region in one minute (time: start of the "
    "minute): passed, scored for defects, rejected, barcodes read and unread, wrong labels.",
    columns=(
        Column("passed", "INTEGER", "Items that passed through the region."),
        Column("inspected", "INTEGER", "Items scored against the defect reference."),
        Column("rejected", "INTEGER", "Items scored above the reference's threshold."),
        Column("read", "INTEGER", "Items whose barcode was read."),
        Column("unread", "INTEGER", "Items that left without a read (barcode cameras)."),
        Column("wrong_labels", "INTEGER", "Reads that did not match `expect`."),
    ),
    key=("minute", "camera", "line"),
    merge="""DO UPDATE SET
        passed = passed + excluded.passed, inspected = inspected + excluded.inspected,
        rejected = rejected + excluded.rejected, read = read + excluded.read,
        unread = unread + excluded.unread, wrong_labels = wrong_labels + excluded.wrong_labels""",
)

DEFECT_REJECT = EventType(
    kind="defect_reject",
    event=DefectReject,
    table="defect_rejects",
    time_column="time",
    name_column="line",
    topic="reject",
    label="defect rejects",
    description="An item whose anomaly score against the reference of good items was above "
    "the reference's threshold.",
    columns=(
        Column("score", "REAL", "The item's anomaly score.", decimals=4),
        Column("threshold", "REAL", "The reference's threshold.", decimals=4),
    ),
    alert=True,
)

BARCODE_READ = EventType(
    kind="barcode_read",
    event=BarcodeRead,
    table="barcode_reads",
    time_column="time",
    name_column="line",
    topic="barcode",
    label="barcode reads",
    description="The one read of one item's barcode.",
    columns=(
        Column("format", "TEXT", "Barcode format, e.g. EAN13."),
        Column("text", "TEXT", "The decoded text."),
    ),
)

BARCODE_UNREAD = EventType(
    kind="barcode_unread",
    event=BarcodeUnread,
    table="barcode_unread",
    time_column="time",
    name_column="line",
    topic="unread",
    label="items passed unread",
    description="An item that left the region without its barcode being read.",
    columns=(),
)

WRONG_LABEL = EventType(
    kind="wrong_label",
    event=WrongLabel,
    table="wrong_labels",
    time_column="time",
    name_column="line",
    topic="wrong_label",
    label="wrong labels",
    description="A barcode read that does not match the camera's `barcodes.expect` pattern.",
    columns=(
        Column("format", "TEXT", "Barcode format."),
        Column("text", "TEXT", "The decoded text."),
        Column("expected", "TEXT", "The pattern it should have matched."),
    ),
    alert=True,
)
