"""JSON API (`/api/...`), `/healthz` and `/metrics`.

Response models are pydantic so the OpenAPI document states exactly what comes back.
Coordinates are normalised (0-1, origin top-left); times are UTC ISO-8601 with Z.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from onsight.config.service import EventKind
from onsight.runtime import CameraPipeline
from onsight.service.auth import User
from onsight.service.metrics import render_metrics
from onsight.service.queries import EventFilter, EventRow
from onsight.service.web import Web

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)


class LineOut(_Out):
    name: str
    in_: int = Field(alias="in", description="Crossings in since the service started.")
    out: int = Field(description="Crossings out since the service started.")
    in_name: str = Field(description="What an `in` crossing means here, e.g. 'enter'.")
    out_name: str = Field(description="What an `out` crossing means here.")
    points: list[list[float]] = Field(description="Two points A, B (normalised).")


class ZoneOut(_Out):
    name: str
    current: int = Field(description="Objects in the zone in the last analysed frame.")
    polygon: list[list[float]] = Field(description="Vertices (normalised).")


class CameraOut(_Out):
    name: str
    purpose: str
    connected: bool
    lines: list[LineOut]
    zones: list[ZoneOut]


class Healthz(_Out):
    status: Literal["ok", "degraded"]
    cameras: dict[str, bool] = Field(description="Camera name -> source connected.")


class CrossingOut(_Out):
    kind: Literal["crossing"]
    time: str = Field(description="When the line was crossed (UTC, ISO-8601 with Z).")
    camera: str
    line: str
    direction: Literal["in", "out"]
    class_name: str = Field(alias="class")


class ZoneMinuteOut(_Out):
    kind: Literal["zone_minute"]
    time: str = Field(description="Start of the minute (UTC, ISO-8601 with Z).")
    camera: str
    zone: str
    class_name: str = Field(alias="class")
    mean: float = Field(description="Mean number of objects in the zone over the minute.")
    peak: int
    samples: int = Field(description="Analysed frames the mean is over.")


class ZoneDwellOut(_Out):
    kind: Literal["zone_dwell"]
    time: str = Field(description="Start of the hour (UTC, ISO-8601 with Z).")
    camera: str
    zone: str
    class_name: str = Field(alias="class")
    people: int = Field(description="Distinct visitors (at least 5, else not released).")
    median_seconds: float
    p90_seconds: float


EventOut = Annotated[CrossingOut | ZoneMinuteOut | ZoneDwellOut, Field(discriminator="kind")]


def camera_out(pipeline: CameraPipeline) -> CameraOut:
    lines = [
        LineOut(
            name=line.config.name,
            in_=line.total("in"),
            out=line.total("out"),
            in_name=line.config.in_name,
            out_name=line.config.out_name,
            points=line.config.points,
        )
        for line in list(pipeline.lines)
    ]
    zones = [
        ZoneOut(name=zone.config.name, current=zone.current, polygon=zone.config.polygon)
        for zone in list(pipeline.zones)
    ]
    return CameraOut(
        name=pipeline.camera.name,
        purpose=pipeline.camera.purpose,
        connected=pipeline.health().connected,
        lines=lines,
        zones=zones,
    )


def event_out(row: EventRow) -> CrossingOut | ZoneMinuteOut | ZoneDwellOut:
    common = {"time": row.time, "camera": row.camera, "class_name": row.class_name}
    if row.kind == "crossing":
        return CrossingOut(kind="crossing", line=row.name, direction=row.direction, **common)
    if row.kind == "zone_minute":
        return ZoneMinuteOut(
            kind="zone_minute",
            zone=row.name,
            mean=row.mean,
            peak=row.peak,
            samples=row.samples,
            **common,
        )
    return ZoneDwellOut(
        kind="zone_dwell",
        zone=row.name,
        people=row.people,
        median_seconds=row.median_seconds,
        p90_seconds=row.p90_seconds,
        **common,
    )


def router(web: Web) -> APIRouter:
    routes = APIRouter()
    context = web.context

    @routes.get("/healthz", tags=["health"])
    def healthz() -> Healthz:
        """Liveness for monitors; public, so it says nothing but camera names and status."""
        cameras = {p.camera.name: p.health().connected for p in context.runner.pipelines}
        ok = all(cameras.values()) and not context.runner.errors
        return Healthz(status="ok" if ok else "degraded", cameras=cameras)

    # HEAD too, outside the spec: uptime monitors often probe with it.
    routes.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)

    @routes.get("/api/cameras", tags=["api"])
    def cameras(user: Annotated[User, Depends(web.auth.user)]) -> list[CameraOut]:
        """Each camera with its lines (totals since start) and zones (current occupancy)."""
        return [camera_out(p) for p in context.runner.pipelines]

    @routes.get("/api/events", tags=["api"])
    def events(
        user: Annotated[User, Depends(web.auth.user)],
        camera: Annotated[str | None, Query(pattern=_NAME)] = None,
        kind: EventKind | None = None,
        since: Annotated[datetime | None, Query(description="Inclusive; naive is UTC.")] = None,
        until: Annotated[datetime | None, Query(description="Exclusive; naive is UTC.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> list[EventOut]:
        """Recorded events, newest first: crossings, zone minutes and hourly dwell."""
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
