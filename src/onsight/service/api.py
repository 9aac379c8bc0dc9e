"""JSON API (`/api/...`), `/healthz` and `/metrics`.

Response models are pydantic so the OpenAPI document states exactly what comes back.
Coordinates are normalised (0-1, origin top-left); times are UTC ISO-8601 with Z.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from onsight.apps.base import EventType
from onsight.apps.registry import event_kinds, event_type, event_types, kinds
from onsight.config.service import EventKind
from onsight.runtime import CameraHandle
from onsight.runtime.stats import CameraHealth, CameraState
from onsight.service.auth import User
from onsight.service.metrics import render_metrics
from onsight.service.queries import EventFilter, EventRow
from onsight.service.today import Compared, SiteToday, running_today
from onsight.service.web import Web

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)


class CameraOut(_Out):
    """A camera, and per app kind section (`lines`, `zones`, ...) its running items: name,
    geometry and live figures (e.g. a line's crossings since the service started)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    purpose: str
    connected: bool
    state: CameraState = Field(
        description="finished: a file played to its end; failed: given up (see reason)."
    )
    reason: str | None = Field(description="Why it is not live, in words.")


class Healthz(_Out):
    status: Literal["ok", "degraded"]
    cameras: dict[str, bool] = Field(description="Camera name -> source connected.")


class ComparedOut(_Out):
    today: int = Field(description="So far today (the site's time zone).")
    yesterday: int = Field(description="Yesterday, from midnight to the same clock time.")
    last_week: int = Field(description="The same weekday last week, over the same span.")


class LineTodayOut(_Out):
    name: str
    entered: ComparedOut = Field(alias="in")
    left: ComparedOut = Field(alias="out")


class CameraTodayOut(_Out):
    name: str
    lines: list[LineTodayOut]
    zone_peaks: dict[str, int] = Field(description="Zone -> today's highest occupancy.")


class TodayOut(_Out):
    day: str = Field(description="Today's date in the site's time zone.")
    entered: ComparedOut = Field(alias="in", description="All lines of all cameras.")
    left: ComparedOut = Field(alias="out", description="All lines of all cameras.")
    cameras: list[CameraTodayOut]


def _compared(value: Compared) -> ComparedOut:
    return ComparedOut(**value.as_dict())


def today_out(site: SiteToday) -> TodayOut:
    return TodayOut(
        day=site.day.isoformat(),
        entered=_compared(site.entered),
        left=_compared(site.left),
        cameras=[
            CameraTodayOut(
                name=camera.name,
                lines=[
                    LineTodayOut(
                        name=line.name,
                        entered=_compared(line.directions["in"]),
                        left=_compared(line.directions["out"]),
                    )
                    for line in camera.lines
                ],
                zone_peaks=camera.zone_peaks,
            )
            for camera in site.cameras
        ],
    )


def _event_model(event: EventType) -> type[BaseModel]:
    """The response model of one event kind, from its registry entry."""
    fields: dict[str, Any] = {
        "id": (str, Field(description="The event id (a UUIDv7), as in MQTT and webhooks.")),
        "kind": (Literal[event.kind], Field(description=event.description)),
        "time": (str, Field(description="UTC, ISO-8601 with Z.")),
        "camera": (str, ...),
        event.name_column: (str, ...),
    }
    for column in event.columns:
        annotation = column.python | None if column.nullable else column.python
        key = column.attribute or column.name
        fields[key] = (annotation, Field(alias=column.name, description=column.description))
    name = "".join(part.title() for part in event.kind.split("_")) + "Out"
    return create_model(name, __base__=_Out, **fields)


def camera_out(camera: CameraHandle, health: CameraHealth) -> CameraOut:
    sections: dict[str, list[dict[str, Any]]] = {}
    for kind in kinds():
        if kind.state is not None:
            sections[kind.section] = sections.get(kind.section, []) + camera.states(kind)
    return CameraOut(
        name=camera.name,
        purpose=camera.config.purpose,
        connected=health.connected,
        state=health.state,
        reason=health.reason,
        **sections,
    )


def event_out(row: EventRow) -> dict[str, Any]:
    event = event_type(row.kind)
    return {"id": row.id, "kind": row.kind, "time": row.time, "camera": row.camera,
            event.name_column: row.name, **row.fields}  # fmt: skip


def router(web: Web) -> APIRouter:
    routes = APIRouter()
    context = web.context
    models = [_event_model(event) for event in event_types()]
    EventOut = Annotated[Union[tuple(models)], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007

    @routes.get("/healthz", tags=["health"])
    def healthz() -> Healthz:
        """Liveness for monitors; public, so it says nothing but camera names and status."""
        cameras = {c.name: c.health().connected for c in context.runner.cameras}
        ok = all(cameras.values()) and not context.runner.errors
        return Healthz(status="ok" if ok else "degraded", cameras=cameras)

    # HEAD too, outside the spec: uptime monitors often probe with it.
    routes.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)

    @routes.get("/api/cameras", tags=["api"])
    def cameras(user: Annotated[User, Depends(web.auth.user)]) -> list[CameraOut]:
        """Each camera with its lines (totals since start) and zones (current occupancy)."""
        return [camera_out(c, web.health(c)) for c in context.runner.cameras]

    @routes.get("/api/today", tags=["api"])
    def today(user: Annotated[User, Depends(web.auth.user)]) -> TodayOut:
        """Crossings so far today per camera, line and for the site, from the database (a
        restart loses nothing), each with the same span of yesterday and of the same weekday
        last week; and each zone's peak occupancy today."""
        return today_out(running_today(web.queries, context.runner.cameras, datetime.now(UTC)))

    @routes.get("/api/events", tags=["api"])
    def events(
        user: Annotated[User, Depends(web.auth.user)],
        camera: Annotated[str | None, Query(pattern=_NAME)] = None,
        kind: EventKind | None = None,
        since: Annotated[datetime | None, Query(description="Inclusive; naive is UTC.")] = None,
        until: Annotated[datetime | None, Query(description="Exclusive; naive is UTC.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> list[EventOut]:  # type: ignore[valid-type]
        """Recorded events, newest first: every app kind's events and aggregates."""
        if kind is not None and kind not in event_kinds():
            raise HTTPException(422, f"kind: one of {', '.join(event_kinds())}")
        where = EventFilter(camera, kind, since, until)
        return [event_out(row) for row in web.queries.events(where, limit, offset)]

    @routes.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics(user: Annotated[User, Depends(web.auth.user)]) -> Response:
        """Prometheus text format (frames, detector latency, skip ratio, queues, events)."""
        body, content_type = render_metrics(context.runner, context.sinks)
        return Response(body, media_type=content_type)

    return routes
