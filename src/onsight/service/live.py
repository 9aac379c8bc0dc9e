"""The redacted live view (MJPEG) and single snapshots.

Frames come from the camera's handle as redacted JPEGs only (`CameraHandle.latest_jpeg`,
one redaction per analysed frame however many viewers ask; when redaction fails closed,
the obliterated image is what is sent). The raw frame never reaches this module.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from onsight.privacy.redact import Finders
from onsight.runtime import CameraHandle
from onsight.service.auth import User
from onsight.service.web import Web

_BOUNDARY = "onsightframe"


def _part(jpeg: bytes) -> bytes:
    head = (
        f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    ).encode("ascii")
    return head + jpeg + b"\r\n"


async def _frames(
    request: Request, camera: CameraHandle, finders: Finders, interval: float
) -> AsyncIterator[bytes]:
    jpeg: bytes | None = None
    shown = 0  # the analysed frame `jpeg` is of
    while not await request.is_disconnected():
        latest = camera.frames_analysed
        if latest != shown and camera.has_frame():
            # Redaction (of a new frame) runs a detector: keep it off the event loop.
            jpeg = await run_in_threadpool(camera.latest_jpeg, finders)
            shown = latest
        if jpeg:
            yield _part(jpeg)
        await anyio.sleep(interval)


def router(web: Web) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    context = web.context

    @routes.get("/cameras/{name}/live.mjpeg")
    def live(
        name: str, request: Request, user: Annotated[User, Depends(web.auth.user)]
    ) -> StreamingResponse:
        camera = web.camera(name)
        web.audit("live_view", user, camera=name)
        interval = 1.0 / context.loaded.config.server.live_fps
        return StreamingResponse(
            _frames(request, camera, context.finders, interval),
            media_type=f"multipart/x-mixed-replace; boundary={_BOUNDARY}",
        )

    @routes.get("/cameras/{name}/snapshot.jpg")
    def snapshot(name: str, user: Annotated[User, Depends(web.auth.user)]) -> Response:
        jpeg = web.camera(name).latest_jpeg(context.finders)
        if jpeg is None:
            raise HTTPException(503, f"camera {name!r} has not delivered a frame yet")
        web.audit("image_view", user, camera=name, kind="snapshot")
        return Response(jpeg, media_type="image/jpeg")

    @routes.get("/cameras/{name}/alerts/{number}.jpg")
    def alert_image(
        name: str, number: int, user: Annotated[User, Depends(web.auth.user)]
    ) -> Response:
        """The frame an alert came from, redacted; only the last few alerts are kept."""
        jpeg = web.camera(name).alert_jpeg(number, context.finders)
        if jpeg is None:
            raise HTTPException(404, "that alert's image is no longer kept")
        web.audit("image_view", user, camera=name, kind="alert")
        return Response(jpeg, media_type="image/jpeg")

    return routes
