"""The redacted live view (MJPEG) and single snapshots.

Every image goes through `privacy.redact` first; when redaction fails closed, the
obliterated image it returns is what is sent. The raw frame is never encoded.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import threading
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from onsight.privacy.redact import Finders, encode_redacted, redact
from onsight.runtime import CameraPipeline, FrameResult
from onsight.service.auth import User
from onsight.service.web import Web

_BOUNDARY = "onsightframe"
_QUALITY = 80


def _redacted_jpeg(pipeline: CameraPipeline, result: FrameResult, finders: Finders) -> bytes:
    redaction = redact(result.frame.image, pipeline.camera, finders, people=result.people)
    return encode_redacted(redaction, ".jpg", _QUALITY)


class RedactedFrames:
    """One redaction per analysed frame and camera, however many viewers and snapshots ask:
    redaction runs a detector, and the cameras need the CPU."""

    def __init__(self, finders: Finders) -> None:
        self._finders = finders
        self._locks: dict[str, threading.Lock] = {}
        self._last: dict[str, tuple[FrameResult, bytes]] = {}
        self._guard = threading.Lock()

    def jpeg(self, pipeline: CameraPipeline, result: FrameResult) -> bytes:
        name = pipeline.camera.name
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # a second viewer of the same frame waits for the first one's JPEG
            last = self._last.get(name)
            if last is not None and last[0] is result:
                return last[1]
            jpeg = _redacted_jpeg(pipeline, result, self._finders)
            self._last[name] = (result, jpeg)
            return jpeg


def _part(jpeg: bytes) -> bytes:
    head = (
        f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    ).encode("ascii")
    return head + jpeg + b"\r\n"


async def _frames(
    request: Request, pipeline: CameraPipeline, frames: RedactedFrames, interval: float
) -> AsyncIterator[bytes]:
    last: FrameResult | None = None
    jpeg = b""
    while not await request.is_disconnected():
        result = pipeline.latest()
        if result is not None and result is not last:
            # Redaction runs a detector: keep it off the event loop.
            jpeg = await run_in_threadpool(frames.jpeg, pipeline, result)
            last = result
        if jpeg:
            yield _part(jpeg)
        await anyio.sleep(interval)


def router(web: Web) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    context = web.context
    frames = RedactedFrames(context.finders)

    @routes.get("/cameras/{name}/live.mjpeg")
    def live(
        name: str, request: Request, user: Annotated[User, Depends(web.auth.user)]
    ) -> StreamingResponse:
        pipeline = web.pipeline(name)
        web.audit("live_view", user, camera=name)
        interval = 1.0 / context.loaded.config.server.live_fps
        return StreamingResponse(
            _frames(request, pipeline, frames, interval),
            media_type=f"multipart/x-mixed-replace; boundary={_BOUNDARY}",
        )

    @routes.get("/cameras/{name}/snapshot.jpg")
    def snapshot(name: str, user: Annotated[User, Depends(web.auth.user)]) -> Response:
        pipeline = web.pipeline(name)
        result = pipeline.latest()
        if result is None:
            raise HTTPException(503, f"camera {name!r} has not delivered a frame yet")
        jpeg = frames.jpeg(pipeline, result)
        web.audit("image_view", user, camera=name, kind="snapshot")
        return Response(jpeg, media_type="image/jpeg")

    @routes.get("/cameras/{name}/alerts/{number}.jpg")
    def alert_image(
        name: str, number: int, user: Annotated[User, Depends(web.auth.user)]
    ) -> Response:
        """The frame an alert came from, redacted; only the last few alerts are kept."""
        pipeline = web.pipeline(name)
        shot = next((s for s in pipeline.alerts() if s.number == number), None)
        if shot is None:
            raise HTTPException(404, "that alert's image is no longer kept")
        jpeg = _redacted_jpeg(pipeline, shot.result, context.finders)
        web.audit("image_view", user, camera=name, kind="alert")
        return Response(jpeg, media_type="image/jpeg")

    return routes
