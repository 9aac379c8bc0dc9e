"""Inspection cameras on the dashboard: items and rejects per hour, the latest rejects, the
read rate, unread and wrong-label events, and learning a new defect reference (admins).

The reject images come from the app's memory (`Inspector.recent_rejects`): they were cleared
of people and had the privacy masks burned in when they were taken, and leave the server
through `privacy.evidence.encode_item_image` only. Learning runs in a background thread
(featurising dozens of images takes a minute of CPU); its state is kept per camera in memory
and shown on the camera page, which reloads itself while it runs.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import logging
import shutil
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from onsight.apps.inspection import Inspector
from onsight.errors import OnsightError
from onsight.privacy.evidence import encode_item_image
from onsight.runtime import CameraHandle
from onsight.service import charts
from onsight.service.auth import User
from onsight.service.queries import EventFilter, local_day_start, local_time, zone_name
from onsight.service.web import Web
from onsight.types import Image, utc_iso

if TYPE_CHECKING:
    from onsight.inspection.reference import Reference

log = logging.getLogger(__name__)

LEARN_DEFAULT = 50  # good items learned from
LEARN_MIN = 10
LEARN_MAX = 200
TARGET_DEFAULT = 0.01  # false-reject rate the threshold aims at
EVENTS_SHOWN = 8  # latest unread / wrong-label events listed
_QUALITY = 85


@dataclass(frozen=True)
class LearnState:
    """The last learning run of one camera (in memory only)."""

    state: Literal["learning", "learned", "failed"]
    user: str
    started: datetime
    items: int = 0  # good items learned from
    target: float = TARGET_DEFAULT
    finished: datetime | None = None
    threshold: float | None = None
    error: str = ""

    def text(self) -> str:
        if self.state == "learning":
            return f"learning… from {self.items} good items (started {_hhmm(self.started)})"
        if self.state == "learned":
            assert self.finished is not None and self.threshold is not None
            return (
                f"learned at {_hhmm(self.finished)} from {self.items} items, "
                f"threshold {self.threshold:.4f}"
            )
        return f"not learned: {self.error}"


def _hhmm(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M")


class Learner:
    """Learning runs, one at a time per camera."""

    def __init__(self, web: Web) -> None:
        self._web = web
        self._lock = threading.Lock()
        self._states: dict[str, LearnState] = {}
        self.threads: dict[str, threading.Thread] = {}  # for tests and shutdown

    def state(self, camera: str) -> LearnState | None:
        with self._lock:
            return self._states.get(camera)

    def _learning(self, camera: str) -> bool:
        state = self.state(camera)
        return state is not None and state.state == "learning"

    def _set(self, camera: str, state: LearnState) -> None:
        with self._lock:
            self._states[camera] = state

    def start(
        self, camera: str, inspector: Inspector, user: User, wanted: int, target: float
    ) -> None:
        """Start learning from the last `wanted` good items, or record why it cannot."""
        now = datetime.now(UTC)
        if self._learning(camera):
            return  # one run at a time: the page shows the one under way

        def refuse(error: str) -> None:
            self._set(camera, LearnState("failed", user.name, now, target=target, error=error))

        path = inspector.reference_path  # made absolute by the runner (`with_paths`)
        if path is None:
            refuse(
                f"camera {camera!r} has no `inspection.reference:` path in its config; add "
                "one (e.g. reference: refs/line-1) to learn a reference here"
            )
            return
        good = inspector.recent_good()[:wanted]
        if len(good) < LEARN_MIN:
            refuse(
                f"only {len(good)} good items have passed since the start; at least "
                f"{LEARN_MIN} are needed"
            )
            return
        with self._lock:
            running = self._states.get(camera)
            if running is not None and running.state == "learning":
                return
            state = LearnState("learning", user.name, now, len(good), target)
            self._states[camera] = state
            thread = threading.Thread(
                target=self._learn,
                args=(camera, inspector, path, good, state),
                name=f"learn-{camera}",
                daemon=True,
            )
            self.threads[camera] = thread
        thread.start()

    def _learn(
        self, camera: str, inspector: Inspector, path: Path, good: list[Image], state: LearnState
    ) -> None:
        from onsight.inspection.reference import learn

        try:
            reference = learn(good, target_false_reject=state.target)
            _save(reference, path)
        except (OnsightError, OSError) as exc:
            self._failed(camera, state, path, str(exc) or type(exc).__name__)
            return
        except Exception as exc:  # never leave the page saying "learning…" forever
            log.exception("learning a reference for camera %s failed", camera)
            self._failed(camera, state, path, f"internal error ({type(exc).__name__})")
            return
        inspector.use_reference(reference)
        done = LearnState(
            "learned", state.user, state.started, state.items, state.target,
            finished=datetime.now(UTC), threshold=reference.threshold,
        )  # fmt: skip
        self._set(camera, done)
        self._web.audit(
            "config_change", state.user, camera=camera, change="inspection_reference",
            outcome="learned", reference=str(path), items=state.items,
            target_false_reject=state.target, threshold=round(reference.threshold, 6),
        )  # fmt: skip

    def _failed(self, camera: str, state: LearnState, path: Path, error: str) -> None:
        error = self._web.scrub(error)
        failed = LearnState(
            "failed", state.user, state.started, state.items, state.target,
            finished=datetime.now(UTC), error=error,
        )  # fmt: skip
        self._set(camera, failed)
        self._web.audit(
            "config_change", state.user, camera=camera, change="inspection_reference",
            outcome="failed", reference=str(path), items=state.items, error=error,
        )  # fmt: skip


_LEARNERS: "weakref.WeakKeyDictionary[Web, Learner]" = weakref.WeakKeyDictionary()
_LEARNERS_LOCK = threading.Lock()


def learner(web: Web) -> Learner:
    with _LEARNERS_LOCK:
        found = _LEARNERS.get(web)
        if found is None:
            found = _LEARNERS[web] = Learner(web)
        return found


def _save(reference: "Reference", path: Path) -> None:
    """Write the reference beside `path`, then put it in its place: a failed write never
    leaves half a reference where the camera loads it at its next start."""
    fresh = path.with_name(path.name + ".new")
    old = path.with_name(path.name + ".old")
    shutil.rmtree(fresh, ignore_errors=True)
    reference.save(fresh)
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    fresh.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def _per_hour(web: Web, camera: str) -> dict[str, tuple[int, int, int]]:
    """Local hour "HH" -> (items passed, rejected, codes read) today, from
    `inspection_minutes` (hours in the site's time zone, as the other charts)."""
    today = datetime.now().astimezone().date()
    start, end = local_day_start(today), local_day_start(today + timedelta(days=1))
    sql = (
        "SELECT strftime('%H', minute, 'localtime'), sum(passed), sum(rejected), sum(read) "
        "FROM inspection_minutes WHERE camera = ? AND minute >= ? AND minute < ? GROUP BY 1"
    )
    with web.queries.connect() as con:
        rows = con.execute(sql, (camera, utc_iso(start), utc_iso(end))).fetchall()
    return {str(h): (int(p or 0), int(r or 0), int(d or 0)) for h, p, r, d in rows}


def _hour_chart(by_hour: dict[str, tuple[int, int, int]]) -> charts.Chart:
    hours = [f"{h:02d}" for h in range(24)]
    passed = [by_hour.get(h, (0, 0, 0))[0] for h in hours]
    rejected = [by_hour.get(h, (0, 0, 0))[1] for h in hours]
    return charts.stacked_bars(
        f"Items and rejects per hour, today ({zone_name()})",
        [f"{h}h" for h in hours],
        {"accepted": [max(0, p - r) for p, r in zip(passed, rejected, strict=True)],
         "rejected": rejected},
        label_every=3,
    )  # fmt: skip


def _label_events(web: Web, camera: str) -> list[dict[str, str]]:
    """The latest unread and wrong-label events of the camera, newest first."""
    rows = [
        row
        for kind in ("wrong_label", "barcode_unread")
        for row in web.queries.events(EventFilter(camera, kind), EVENTS_SHOWN)
    ]
    rows.sort(key=lambda row: row.time, reverse=True)
    out = []
    for row in rows[:EVENTS_SHOWN]:
        if row.kind == "wrong_label":
            what = f"{row.fields.get('format')} {row.fields.get('text')} does not match "
            what += str(row.fields.get("expected"))
        else:
            what = "left without its code being read"
        out.append({"kind": row.kind.replace("_", " "), "time": local_time(row.time),
                    "line": row.name, "what": what})  # fmt: skip
    return out


def section(web: Web, camera: CameraHandle, user: User) -> dict[str, Any] | None:
    """What the camera page shows of an inspection camera (None for other cameras)."""
    inspector = camera.inspector()
    if inspector is None:
        return None
    name = camera.name
    by_hour = _per_hour(web, name)
    items_today = sum(p for p, _, _ in by_hour.values())
    read_today = sum(d for _, _, d in by_hour.values())
    state = inspector.state()
    barcodes = camera.config.barcodes is not None
    retention = web.context.loaded.config.privacy.retention
    rejects = [
        {"number": shot.number, "time": shot.time.astimezone().strftime("%H:%M:%S"),
         "score": shot.score, "threshold": shot.threshold}
        for shot in inspector.recent_rejects()
    ]  # fmt: skip
    learning = learner(web).state(name)
    return {
        "chart": _hour_chart(by_hour),
        "items_today": items_today,
        "rejected_today": sum(r for _, r, _ in by_hour.values()),
        "read_rate_today": read_today / items_today if barcodes and items_today else None,
        "rejects": rejects,
        "store_media": retention.store_media,
        "media_hours": retention.media_hours,
        "barcodes": barcodes,
        "read": state.get("read"),
        "passed": state.get("items"),
        "read_rate": state.get("read_rate"),
        "unread": state.get("unread"),
        "wrong_labels": state.get("wrong_labels"),
        "label_events": _label_events(web, name) if barcodes else [],
        "learn": {
            "admin": user.role == "admin",
            "configured": inspector.reference_path is not None,
            "good": len(inspector.recent_good()),
            "default": LEARN_DEFAULT,
            "min": LEARN_MIN,
            "max": LEARN_MAX,
            "target": TARGET_DEFAULT,
            "state": learning.state if learning else "",
            "text": learning.text() if learning else "",
        },
    }


def router(web: Web) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    Admin = Annotated[User, Depends(web.auth.admin)]
    Viewer = Annotated[User, Depends(web.auth.user)]

    def inspector(name: str) -> Inspector:
        found = web.camera(name).inspector()
        if found is None:
            raise HTTPException(404, f"camera {name!r} is not an inspection camera")
        return found

    def reject_image(name: str, number: int, which: str, user: User) -> Response:
        shot = next((s for s in inspector(name).recent_rejects() if s.number == number), None)
        if shot is None:
            raise HTTPException(404, "that reject's image is no longer kept")
        jpeg = encode_item_image(shot.item if which == "item" else shot.heatmap, _QUALITY)
        web.audit("image_view", user, camera=name, kind=f"reject_{which}")
        return Response(jpeg, media_type="image/jpeg")

    @routes.get("/cameras/{name}/rejects/{number}/item.jpg")
    def reject_item(name: str, number: int, user: Viewer) -> Response:
        """A recent reject's item image; only the last few are kept, in memory."""
        return reject_image(name, number, "item", user)

    @routes.get("/cameras/{name}/rejects/{number}/heatmap.jpg")
    def reject_heatmap(name: str, number: int, user: Viewer) -> Response:
        """A recent reject's heatmap over its item image; only the last few are kept."""
        return reject_image(name, number, "heatmap", user)

    @routes.post("/cameras/{name}/inspection/learn", dependencies=[Depends(web.auth.check_csrf)])
    def learn_reference(
        name: str,
        user: Admin,
        items: Annotated[int, Form(ge=LEARN_MIN, le=LEARN_MAX)] = LEARN_DEFAULT,
        target: Annotated[float, Form(gt=0.0, lt=0.5)] = TARGET_DEFAULT,
    ) -> RedirectResponse:
        """Learn the camera's defect reference from its last good items, in the background."""
        learner(web).start(name, inspector(name), user, items, target)
        return RedirectResponse(f"/cameras/{name}/inspection/learn", status_code=303)

    @routes.get("/cameras/{name}/inspection/learn")
    def learn_state(name: str, request: Request, user: Viewer) -> HTMLResponse:
        """How the last learning run went; reloads itself while it runs (the camera page
        cannot: its live view never finishes loading)."""
        inspector(name)
        return web.page(
            request, "inspection_learn.html.j2", user, camera=name,
            learn=learner(web).state(name), nav="overview",
        )  # fmt: skip

    return routes
