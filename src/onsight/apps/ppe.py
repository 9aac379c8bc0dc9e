"""Safety compliance without watching anyone: masks, hi-vis and a site's own required items,
as a share per area per hour.

Each analysed frame (at most `reads_per_second`), every check reads each person in view:
compliant, not compliant, or cannot tell (face turned away, too small). A person track is
decided once, when it leaves, by a majority vote over the frames in which it could be read,
and counted once, in the hour it was last seen and the zone it was first seen in. Released
per zone (or the whole camera) and hour only when at least 5 people were decided there
(privacy rule 2); a share from fewer is never stored, published or shown.

On a still camera (snapshots, images, or fps <= 1) every person in every still is a track of
its own (see the pipeline), so the figures count sightings, not people. There, without
zones, a face in no person box (a close-up, a crowd) is a sighting for the mask check too.

No face crop, box, track id or per-person result leaves memory: the votes are counts per
track, dropped once the track is decided.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, runtime_checkable

import numpy as np
from pydantic import Field, model_validator

from onsight.apps.base import AppKind, Column, EventType, FrameView
from onsight.apps.occupancy import of_classes
from onsight.apps.visits import HANDOVER_S, VisitKeys
from onsight.config._base import NAME_PATTERN, Strict
from onsight.config.user_models import UserModelConfig
from onsight.geometry import points_in_any, points_in_polygon
from onsight.privacy.kanon import K
from onsight.types import FloatArray, Image, Stamped, Tracks

if TYPE_CHECKING:
    from onsight.config.models import CameraConfig

Check = Literal["mask", "hivis", "required"]
WHOLE_CAMERA = "camera"
_GONE_SECONDS = HANDOVER_S + 1.0  # unseen this long (and not handed over): has left
_FORGET_SECONDS = 10.0  # a counted visit key is remembered this long (a return is not new)
_HOURS_SHOWN = 6  # the live view's hours per check


class PpeConfig(Strict):
    name: str = Field("ppe", pattern=NAME_PATTERN, description="Name in topics and events.")
    masks: bool = Field(
        False,
        description="Share of faces wearing a mask over mouth and nose (a mask below the nose "
        "is not a mask). Faces are looked at for this and never stored.",
    )
    hivis: bool = Field(
        False, description="Share of people whose torso shows high-visibility material."
    )
    required: list[str] = Field(
        default_factory=list,
        description="Classes of `model` each person must wear, e.g. [helmet, vest]: the "
        "share wearing all of them.",
    )
    model: str | None = Field(
        None, description="The site's own detector (from `models:`) that finds `required`."
    )
    zones: list[str] | None = Field(
        None,
        description="Only people in these zones (names from the camera's `zones`) count, "
        "per zone; unset: everyone in view, for the whole camera.",
    )
    reads_per_second: float = Field(
        1.0,
        gt=0.0,
        le=30.0,
        strict=False,
        description="How often people are read (at most): each read runs the face finder and "
        "mask classifier (about 0.2-0.3 s of CPU per frame), the colour test and the site's "
        "detector. A person in view for a few seconds is still read several times.",
    )
    classes: list[str] = Field(
        default_factory=lambda: ["person"], min_length=1, description="Classes that are people."
    )
    # The `models:` entry `model` names, its path made absolute: set by onsight when the
    # camera runs (`LoadedConfig.with_paths`), never read from a config file.
    resolved_model: UserModelConfig | None = Field(
        None, exclude=True, description="(set by onsight from `models:`; not a config field)"
    )

    @model_validator(mode="before")
    @classmethod
    def _not_from_a_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and "resolved_model" in data:
            raise ValueError("resolved_model is set by onsight, not in a config file")
        return data

    @model_validator(mode="after")
    def _something_to_check(self) -> Self:
        if not (self.masks or self.hivis or self.required):
            raise ValueError("ppe needs at least one of masks: true, hivis: true, required: [...]")
        if self.required and self.model is None:
            raise ValueError("ppe.required needs ppe.model: the detector that finds those items")
        return self

    def checks(self) -> list[Check]:
        wanted: list[Check] = []
        if self.masks:
            wanted.append("mask")
        if self.hivis:
            wanted.append("hivis")
        if self.required:
            wanted.append("required")
        return wanted


@dataclass(frozen=True, slots=True)
class PpeHour(Stamped):
    """One check's compliance in one zone (or the whole camera) over one hour, >= k people."""

    hour: datetime  # UTC, start of the hour
    camera: str
    scope: str  # a zone name, or "camera"
    equipment: str  # the check: "mask", "hivis" or "required"
    seen: int  # people decided (sightings, on a still camera); at least 5
    compliant: int
    share: float

    @property
    def kind(self) -> str:
        return "ppe_hour"


class Reader(Protocol):
    """One check, read on one frame: per person box (normalised xyxy), True (compliant),
    False (not) or None (cannot tell)."""

    def read(self, image: Image, boxes: FloatArray) -> list[bool | None]: ...


LooseFace = tuple[bool, float, float]  # masked, and the face's centre x, y (normalised)


@runtime_checkable
class LooseFaceReader(Reader, Protocol):
    """The mask check can also read faces that lie in no person box."""

    def read_with_loose(
        self, image: Image, boxes: FloatArray, loose: bool = True
    ) -> tuple[list[bool | None], list[LooseFace]]: ...


@dataclass(slots=True)
class _Votes:
    last_seen: float
    scope: str | None = None  # the first counted zone the person stood in ("camera": any)
    yes: dict[str, int] = field(default_factory=dict)
    no: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Tally:
    seen: int = 0
    compliant: int = 0
    crowd: int = 0  # most people counted here in one frame (the still-camera k rule)

    @property
    def share(self) -> float | None:
        return self.compliant / self.seen if self.seen >= K else None


class PpeMonitor:
    """`stills`: the camera takes stills, so each person in each frame is a sighting of its
    own; a sighting count cannot show 5 *people*, so an hour is released there only if one
    still showed at least 5 people at once."""

    def __init__(
        self,
        camera: str,
        config: PpeConfig,
        class_names: list[str],
        readers: dict[Check, Reader],
        zones: dict[str, list[tuple[float, float]]],
        stills: bool = False,
        ignore: Sequence[list[tuple[float, float]]] = (),
    ) -> None:
        self.camera, self.config = camera, config
        self._names = class_names
        self._classes = set(config.classes)
        self._readers = readers
        self._zones = zones  # name -> polygon, only the configured ones; empty: whole camera
        self._stills = stills
        self._ignore = list(ignore)
        # On stills without zones, faces outside every person box count too (a close-up, a
        # crowd): a still has no tracks to vote over, and a face has no feet to place in a zone.
        self._loose = stills and not zones and "mask" in readers
        self._visits = VisitKeys(forget_after_s=_FORGET_SECONDS)
        self._tracks: dict[int, _Votes] = {}  # visit key -> votes, in memory only
        self._decided: dict[int, float] = {}  # visit keys already counted -> when
        self._last_read: float | None = None
        self._hour: datetime | None = None
        self._hour_tallies: dict[tuple[str, Check], _Tally] = {}
        # Only what was released (>= k): the live view and `--summary` show nothing else.
        self.totals: dict[Check, _Tally] = {check: _Tally() for check in readers}
        # The last hours with anyone seen, per check: (hour, released, areas withheld).
        self.recent: dict[Check, deque[tuple[datetime, _Tally, int]]] = {
            check: deque(maxlen=_HOURS_SHOWN) for check in readers
        }
        self.suppressed = 0  # hour rows withheld for fewer than k people

    def update(self, view: FrameView) -> list[PpeHour]:
        events: list[PpeHour] = []
        people = view.select(of_classes(view, self._classes, self._names))
        keys = people.track_id.tolist() if self._stills else self._visits.keys(people)
        hour = view.wall_time.replace(minute=0, second=0, microsecond=0)
        if self._hour is not None and hour != self._hour:
            # Everyone not in view now was last seen in the hour that ends: decided into it.
            self._decide_gone(view.pts, now_present=set(keys))
            events += self._close_hour()
        self._hour = hour
        scopes = self._scopes(people)
        present: list[tuple[int, int]] = []  # (row in `people`, visit key) read this frame
        counted: dict[str, int] = {}
        for row, (key, scope) in enumerate(zip(keys, scopes, strict=True)):
            if key in self._decided:
                continue  # already counted (back after a short absence)
            votes = self._tracks.setdefault(key, _Votes(view.pts))
            votes.last_seen = view.pts
            if votes.scope is None:
                votes.scope = scope
            if votes.scope is not None and scope is not None:
                present.append((row, key))
                counted[votes.scope] = counted.get(votes.scope, 0) + 1
        for scope, crowd in counted.items():
            for check in self._readers:
                tally = self._hour_tallies.setdefault((scope, check), _Tally())
                tally.crowd = max(tally.crowd, crowd)
        if (present or self._loose) and view.image is not None and self._due(view.pts):
            boxes = people.xyxy[[row for row, _ in present]]
            for check, reader in self._readers.items():
                if check == "mask" and self._loose and isinstance(reader, LooseFaceReader):
                    readings, alone = reader.read_with_loose(view.image, boxes)
                    attached = sum(reading is not None for reading in readings)
                    self._count_loose(self._not_ignored(alone), attached)
                elif present:
                    readings = reader.read(view.image, boxes)
                else:
                    continue
                for (_, key), reading in zip(present, readings, strict=True):
                    if reading is not None:
                        votes = self._tracks[key]
                        ballot = votes.yes if reading else votes.no
                        ballot[check] = ballot.get(check, 0) + 1
        self._decide_gone(view.pts - _GONE_SECONDS)
        return events

    def _count_loose(self, masked: list[bool], attached: int) -> None:
        """Faces on a still that lie in no person box: each a sighting decided at once (one
        still, one read). For the k rule the still showed the faces read in it, attached to
        a person box or not; never people plus faces, which could count one person twice (a
        box whose own face lies outside it)."""
        if not masked:
            return
        tally = self._hour_tallies.setdefault((WHOLE_CAMERA, "mask"), _Tally())
        tally.seen += len(masked)
        tally.compliant += sum(masked)
        tally.crowd = max(tally.crowd, attached + len(masked))

    def _not_ignored(self, faces: list[LooseFace]) -> list[bool]:
        """Loose faces outside the camera's `ignore` areas (a poster, a mirror, a screen:
        the detector's boxes there are dropped before any app sees them, faces too)."""
        if not self._ignore or not faces:
            return [masked for masked, _, _ in faces]
        centres = np.array([(x, y) for _, x, y in faces], np.float32)
        hidden = points_in_any(self._ignore, centres)
        return [masked for (masked, _, _), gone in zip(faces, hidden, strict=True) if not gone]

    def flush(self) -> list[PpeHour]:
        for votes in self._tracks.values():
            self._decide(votes)
        self._tracks.clear()
        return self._close_hour()

    def _decide_gone(self, before: float, now_present: set[int] | None = None) -> None:
        """Decide every person last seen before `before` (with `now_present`: everyone not
        in the current frame); forget decided keys after the visit window."""
        for key, votes in list(self._tracks.items()):
            if votes.last_seen < before or (now_present is not None and key not in now_present):
                self._decide(self._tracks.pop(key))
                self._decided[key] = votes.last_seen
        self._decided = {k: t for k, t in self._decided.items() if before - t <= _FORGET_SECONDS}

    def _due(self, pts: float) -> bool:
        if self._last_read is not None and pts - self._last_read < 1 / self.config.reads_per_second:
            return False
        self._last_read = pts
        return True

    def _scopes(self, people: Tracks) -> list[str | None]:
        """Each person's zone (the first configured one their feet are in), "camera" without
        zones, None outside every configured zone."""
        if not self._zones:
            return [WHOLE_CAMERA] * len(people)
        feet = people.bottom_centres()
        found: list[str | None] = [None] * len(people)
        for name, polygon in self._zones.items():
            inside = points_in_polygon(polygon, feet)
            for i in np.flatnonzero(inside):
                if found[i] is None:
                    found[i] = name
        return found

    def _decide(self, votes: _Votes) -> None:
        if votes.scope is None:
            return  # never in a counted zone
        for check in self._readers:
            yes, no = votes.yes.get(check, 0), votes.no.get(check, 0)
            if yes + no == 0:
                continue  # never readable (turned away, too far): not counted
            tally = self._hour_tallies.setdefault((votes.scope, check), _Tally())
            tally.seen += 1
            tally.compliant += yes > no  # a tie is not a pass

    def _close_hour(self) -> list[PpeHour]:
        tallies, self._hour_tallies = self._hour_tallies, {}
        if self._hour is None:
            return []
        released: list[PpeHour] = []
        hour_total = {check: _Tally() for check in self._readers}
        withheld = dict.fromkeys(self._readers, 0)  # areas with fewer than k, per check
        for (scope, check), tally in sorted(tallies.items()):
            if not tally.seen:
                continue
            if tally.seen < K or (self._stills and tally.crowd < K):
                self.suppressed += 1
                withheld[check] += 1
                continue
            share = tally.compliant / tally.seen
            released.append(
                PpeHour(self._hour, self.camera, scope, check, tally.seen, tally.compliant, share)
            )
            for total in (self.totals[check], hour_total[check]):
                total.seen += tally.seen
                total.compliant += tally.compliant
        for check in self._readers:
            if hour_total[check].seen or withheld[check]:
                self.recent[check].append((self._hour, hour_total[check], withheld[check]))
        return released

    def summary(self) -> dict[str, Any]:
        """`--summary` sections: totals of the released hours (each from >= 5 people)."""
        out: dict[str, Any] = {}
        if "mask" in self.totals:
            masks = self.totals["mask"]
            out["ppe"] = {"faces": masks.seen, "masked": masks.compliant,
                          "mask_share": _rounded(masks.share)}  # fmt: skip
        if "hivis" in self.totals:
            hivis = self.totals["hivis"]
            out["hivis"] = {"people": hivis.seen, "wearing": hivis.compliant,
                            "share": _rounded(hivis.share)}  # fmt: skip
        if "required" in self.totals:
            worn = self.totals["required"]
            out["required"] = {
                "items": list(self.config.required),
                "people": worn.seen,
                "wearing": worn.compliant,
                "share": _rounded(worn.share),
            }
        return out

    def state(self) -> dict[str, Any]:
        """The dashboard's live view: each check's share in each of the last hours (or that
        it came from fewer than 5 people) and over every released hour; never a figure from
        an hour still open or from fewer than 5."""
        state: dict[str, Any] = {"name": self.config.name}
        for check, total in self.totals.items():
            hours = [_hour_shown(*entry) for entry in self.recent[check]]
            state[f"{check}_hours"] = hours or "no hour ended yet"  # a list: a line each
            state[f"{check}_share"] = _shown(total)
        return state


def _hour_shown(hour: datetime, released: _Tally, withheld: int) -> str:
    """'09h 92% of 12', '09h fewer than 5 people', or both when some areas had fewer."""
    more = ""
    if released.seen and withheld:
        more = f" (+{withheld} area{'s' * (withheld > 1)} with fewer than {K})"
    return f"{hour:%H}h {_shown(released)}{more}"


def _shown(tally: _Tally) -> str:
    share = tally.share
    return f"{share:.0%} of {tally.seen}" if share is not None else f"fewer than {K} people"


def _rounded(share: float | None) -> float | None:
    return None if share is None else round(share, 4)


def _build(camera: CameraConfig, item: PpeConfig, names: list[str]) -> PpeMonitor:
    from onsight.ppe.readers import make_readers

    zones = {z.name: [(p[0], p[1]) for p in z.polygon] for z in camera.zones}
    wanted = {name: zones[name] for name in item.zones or []}
    readers = make_readers(camera, item)
    ignore = [[(p[0], p[1]) for p in polygon] for polygon in camera.ignore]
    return PpeMonitor(
        camera.name, item, names, readers, wanted, stills=camera.takes_stills(), ignore=ignore
    )


PPE_HOUR = EventType(
    kind="ppe_hour",
    event=PpeHour,
    table="ppe_hours",
    time_column="hour",
    name_column="scope",
    topic="ppe",
    label="protective equipment per hour",
    description="Share of people wearing protective equipment in one zone (or the whole "
    "camera) over one hour (time: start of the hour); only hours with at least 5 people.",
    columns=(
        Column("equipment", "TEXT", "mask, hivis or required (the site's own items).",
               check="equipment IN ('mask', 'hivis', 'required')"),
        Column("seen", "INTEGER", "People decided (sightings on a still camera), at least 5.",
               check="seen >= 5"),
        Column("compliant", "INTEGER", "Of them, wearing it.",
               check="compliant >= 0 AND compliant <= seen"),
        Column("share", "REAL", "compliant / seen.", decimals=4),
    ),
    # Not retained: the rows of several checks share one topic (<camera>/ppe/<scope>).
    key=("hour", "camera", "scope", "equipment"),
    merge="""DO UPDATE SET
        seen = seen + excluded.seen, compliant = compliant + excluded.compliant,
        share = CAST(compliant + excluded.compliant AS REAL) / (seen + excluded.seen)""",
)  # fmt: skip


def _describe(item: PpeConfig) -> str:
    parts = []
    if item.masks:
        parts.append("masks over mouth and nose")
    if item.hivis:
        parts.append("high-visibility clothing")
    if item.required:
        parts.append(f"{', '.join(item.required)} (the site's own detector)")
    where = f" in {', '.join(item.zones)}" if item.zones else ""
    return f"{' and '.join(parts)}{where}"


KIND: AppKind[PpeConfig, PpeMonitor] = AppKind(
    name="ppe",
    section="ppe",
    config=PpeConfig,
    build=_build,
    events=(PPE_HOUR,),
    measures="the share of people wearing required protective equipment (masks, "
    "high-visibility clothing, a site's own items such as helmets), per area and hour, "
    "only from at least 5 people; never who",
    purposes=frozenset({"safety"}),
    heading="Protective equipment",
    describe=_describe,
    summary=PpeMonitor.summary,
    state=PpeMonitor.state,
    live=(
        ("mask_hours", "Masks, by hour (UTC)"),
        ("mask_share", "Masks, all"),
        ("hivis_hours", "Hi-vis, by hour (UTC)"),
        ("hivis_share", "Hi-vis, all"),
        ("required_hours", "Required, by hour (UTC)"),
        ("required_share", "Required, all"),
    ),
    needs_image=True,
    single=True,
    summary_sections=True,
    reads=("zones", "ignore"),
    notice_note="On this camera faces are looked at to see whether a mask covers mouth and "
    "nose, and clothing for high-visibility material. No face or picture is stored, nobody "
    "is recognised, and results exist only as shares per area and hour from at least 5 "
    "people.",
)
