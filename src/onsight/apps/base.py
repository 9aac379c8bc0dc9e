"""What an app kind is: the one description the pipeline, store, sinks, service and notice read.

An app kind is one module in `apps/` that defines its config model, its app class (`update`
takes each frame's `FrameView`, `flush` ends the run), its event dataclasses and an `AppKind`
value naming all of these, plus its table, notice text, purposes and Home Assistant entity.
`apps/registry.py` lists the kinds; nothing else in onsight has per-kind code.

An event's stored and published record is read off the event by its `EventType`: a time, the
camera, the name of the line/zone/area it is about, and the columns listed, by attribute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

from onsight.types import Event, FloatArray, Image, Tracks

if TYPE_CHECKING:  # the camera schema lists the app kinds' config models
    from onsight.config.models import CameraConfig

Purpose = Literal["footfall", "occupancy", "safety", "operations", "inspection", "screening"]
Value = str | int | float | None
SqlType = Literal["TEXT", "INTEGER", "REAL"]


@dataclass(frozen=True, slots=True)
class FrameView(Tracks):
    """One analysed frame as the apps see it: its confirmed tracks (this *is* a `Tracks`)
    and, for a camera where some app asked for it (`AppKind.needs_image`), the image."""

    image: Image | None = None
    # Every person the detector found in this frame (normalised), tracked or not, for an
    # app that keeps images (`needs_image`) to obliterate; None when no app asked.
    people: FloatArray | None = None


@dataclass(frozen=True, slots=True)
class Column:
    """One stored and published field of an event."""

    name: str  # column and payload key
    sql: SqlType
    description: str
    attribute: str = ""  # the event's attribute, when it differs from `name`
    nullable: bool = False
    decimals: int | None = None  # rounding in published payloads
    check: str = ""  # an SQL CHECK expression (k-anonymity floors live here)

    @property
    def python(self) -> type[Any]:
        return {"TEXT": str, "INTEGER": int, "REAL": float}[self.sql]


@dataclass(frozen=True)
class EventType:
    """How one kind of event is stored, published, listed and described.

    Every table has the columns `time_column`, `camera`, `name_column`, then `columns`. Its
    DDL is `migrations[0]`; later entries alter it (a store applies those it has not yet).
    """

    kind: str  # e.g. "crossing": payload `kind`, webhook subscriptions, API filter
    event: type[Any]  # the event dataclass
    table: str
    time_column: str  # also the event's attribute: when it happened / the period's start
    name_column: str  # also the event's attribute: the line, zone, queue ... it is about
    topic: str  # the MQTT topic's <app> level: <prefix>/<site>/<camera>/<topic>/<name>
    label: str  # plural, for people: "line crossings"
    description: str  # what one record is (API docs)
    columns: tuple[Column, ...]
    retain: bool = False  # state that replaces the last one (MQTT retained)
    # An alert: the dashboard shows it with a redacted snapshot of the frame it came from.
    alert: bool = False
    key: tuple[str, ...] = ()  # unique key of an aggregate row (besides an implicit id)
    # SQL `ON CONFLICT (key) DO ...` action merging a row written twice (a restart mid-period).
    merge: str = ""
    payload_aliases: dict[str, str] = field(default_factory=dict)  # extra key -> column
    migrations: tuple[str, ...] = ()  # later ALTERs, applied in order after the CREATE
    # A per-minute level the camera page charts per 10 minutes today (summed over the rows
    # of one minute and name, e.g. classes), and the chart's title; "" for no chart.
    chart_column: str = ""
    chart_title: str = ""
    # The per-minute maximum of that level (e.g. "peak"): the reports page shows its highest
    # value per period beside the mean of `chart_column`; "" for none.
    peak_column: str = ""

    def record(self, event: Event) -> dict[str, Value | datetime]:
        """time column, camera, name column, then each column, read off the event."""
        values: dict[str, Value | datetime] = {
            self.time_column: getattr(event, self.time_column),
            "camera": event.camera,
            self.name_column: getattr(event, self.name_column),
        }
        for column in self.columns:
            values[column.name] = getattr(event, column.attribute or column.name)
        return values

    def create_table(self) -> str:
        """The CREATE TABLE statement (an aggregate keyed by `key`, else an event with an id),
        with the event id column (`event_id`, unique) every table has."""
        parts = ["id INTEGER PRIMARY KEY"] if not self.key else []
        parts += [
            f"{self.time_column} TEXT NOT NULL",
            "camera TEXT NOT NULL",
            f"{self.name_column} TEXT NOT NULL",
        ]
        for column in self.columns:
            null = "" if column.nullable else " NOT NULL"
            check = f" CHECK ({column.check})" if column.check else ""
            parts.append(f'"{column.name}" {column.sql}{null}{check}')
        parts.append("event_id TEXT")  # the event's id (`Stamped`); last, as if added later
        if self.key:
            parts.append(f"PRIMARY KEY ({', '.join(self.key)})")
        body = ",\n    ".join(parts)
        index = (
            f"CREATE INDEX IF NOT EXISTS {self.table}_camera_time "
            f"ON {self.table} (camera, {self.time_column});"
        )
        return f"CREATE TABLE IF NOT EXISTS {self.table} (\n    {body}\n);\n{index}\n" + (
            self.event_id_index()
        )

    def event_id_index(self) -> str:
        return (
            f"CREATE UNIQUE INDEX IF NOT EXISTS {self.table}_event_id ON {self.table} (event_id);"
        )


class App(Protocol):
    """One configured instance of an app kind on one camera (one line, one zone, ...)."""

    @property
    def config(self) -> Any: ...

    def update(self, view: FrameView) -> Sequence[Event]: ...

    def flush(self) -> Sequence[Event]: ...


C = TypeVar("C", bound=BaseModel)
A = TypeVar("A", bound=App)


@dataclass(frozen=True)
class Entity:
    """A Home Assistant MQTT discovery entity for one configured item."""

    component: Literal["sensor", "event", "binary_sensor"]
    suffix: str  # unique within the camera: the object id's last part
    topic: str  # the event type's topic level the entity reads
    config: dict[str, Any]  # name, value_template, unit, ... (topics and device are added)


@dataclass(frozen=True)
class AppKind(Generic[C, A]):
    """An app kind: everything onsight needs to know to configure, run, store, publish,
    show and explain it."""

    name: str  # as in the purpose table, e.g. "line_count"
    section: str  # the camera config field holding its items, e.g. "lines"
    config: type[C]
    # (camera config, item config, model class names) -> the running app; see `per_item`
    build: Callable[[CameraConfig, C, list[str]], A]
    events: tuple[EventType, ...]
    measures: str  # for the notice: what it measures, in words anyone can read
    purposes: frozenset[Purpose]
    heading: str  # the notice's heading for the configured items, e.g. "Counting lines"
    # One configured item for the notice; None when another kind on the same items lists them.
    describe: Callable[[C], str] | None
    # This item's totals since the start for `--summary` and the API; None: not summarised.
    summary: Callable[[A], dict[str, Any]] | None
    # The API's and dashboard's live view of one running item (name, geometry, current
    # figures); None: the kind is not listed per camera.
    state: Callable[[A], dict[str, Any]] | None = None
    # How the dashboard's editor draws an item: its `points` (a line) or `polygon`; None:
    # not drawn (another kind on the same section is). `noun` names one item ("queue"), and
    # `edits` are other fields the editor may set (e.g. a line's alert direction).
    shape: Literal["points", "polygon"] | None = None
    noun: str = ""
    edits: tuple[str, ...] = ()
    # (state key, column label) pairs the camera page shows per item, beside the counts.
    live: tuple[tuple[str, str], ...] = ()
    entities: Callable[[C], list[Entity]] = lambda _: []
    enabled: Callable[[C], bool] = lambda _: True  # e.g. dwell only on zones with `dwell: true`
    needs_image: bool = False
    # Configured once per camera (`distancing: {...}`), not as a list of named items; its
    # `--summary` section is then the item's summary itself.
    single: bool = False
    # Its summary maps `--summary` section names to dicts (an app reporting under several
    # keys, e.g. inspection and barcodes), merged into the camera's summary.
    summary_sections: bool = False
    notice_note: str = ""  # a sentence the notice adds for a camera running this app
    # Other camera sections the app reads when built (e.g. the zones it names): a running
    # app is built again, after publishing what it holds, when one of them is edited.
    reads: tuple[str, ...] = ()

    def items(self, camera: BaseModel) -> list[C]:
        """This kind's configured items on a camera (those it is enabled for). A kind
        configured once per camera (`single`) has a section that is one item or None."""
        configured = getattr(camera, self.section, None)
        if configured is None:
            return []
        items: list[C] = [configured] if self.single else list(configured)
        return [item for item in items if self.enabled(item)]

    def classes(self, item: C) -> list[str]:
        return list(getattr(item, "classes", ["person"]))


def per_item(app: Callable[[str, C, list[str]], A]) -> Callable[[CameraConfig, C, list[str]], A]:
    """`AppKind.build` for an app that needs only the camera's name from the camera config."""
    return lambda camera, item, names: app(camera.name, item, names)
