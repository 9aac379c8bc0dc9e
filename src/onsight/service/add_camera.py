"""Adding a camera from the dashboard (admins only): a form, a connection test, saving.

The URL's password is taken out into the secrets file beside the config (the config holds
`${ONSIGHT_CAM_<NAME>_PASSWORD}`) and is never shown back: not in a page, an answer, the
audit log or a log line. "Test connection" opens the URL once through `VideoSource` and
answers with one frame redacted as the camera's purpose requires, or a plain reason.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import base64
import os
import re
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from onsight.config._base import NAME_RULE
from onsight.config.models import CameraConfig
from onsight.config.purposes import PURPOSES
from onsight.config.secrets_file import read_secrets, secret_name, secrets_path, split_password
from onsight.errors import OnsightError
from onsight.ingest.probe import probe
from onsight.ingest.urls import redact_text, url_secrets
from onsight.privacy.redact import encode_redacted, redact
from onsight.service.auth import User
from onsight.service.web import Web

# Purposes a camera added here may have (screening needs its own config section).
CHOICES = [p for p in PURPOSES if p != "screening"]
_TEST_WIDTH = 640
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class NewCamera(NamedTuple):
    camera: CameraConfig  # with the real URL: for the test only, never written or shown
    entry: dict[str, Any]  # what the config file gets: the password as a `${...}` reference
    secrets: dict[str, str]  # reference -> password, for the secrets file


class CameraFormError(ValueError):
    """The form cannot be used; the message (never the URL) is shown to the admin."""


def new_camera(
    web: Web, name: str, url: str, purpose: str, fps: float, snapshot: bool = False
) -> NewCamera:
    """The camera the form describes, checked as the config would check it (`snapshot`:
    the URL answers one image per request; saved as `snapshot: true`, absent otherwise)."""
    loaded = web.context.loaded
    if name in {camera.name for camera in loaded.config.cameras}:
        raise CameraFormError(f"a camera named {name!r} exists already; choose another name")
    if purpose not in CHOICES:
        raise CameraFormError(f"purpose must be one of {', '.join(CHOICES)}")
    url = url.strip()
    if _REFERENCE.search(url):
        raise CameraFormError("type the password itself; it is moved into the secrets file")
    try:
        text = loaded.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CameraFormError(f"cannot read {loaded.path.name}: {type(exc).__name__}") from None
    taken = {*_REFERENCE.findall(text), *os.environ, *read_secrets(secrets_path(loaded.path))}
    split = split_password(url, secret_name(name, taken))
    fields: dict[str, Any] = {"name": name, "url": url, "purpose": purpose, "fps": fps}
    if snapshot:
        fields["snapshot"] = True
    try:
        camera = CameraConfig.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors(include_input=False)[0]
        field = str(error["loc"][0]) if error["loc"] else "camera"
        message = str(error["msg"]).removeprefix("Value error, ")
        if field == "name" and error["type"] == "string_pattern_mismatch":
            message = NAME_RULE
        raise CameraFormError(f"{field}: {message}") from None
    entry = {**fields, "url": split.url}
    return NewCamera(camera, entry, {split.variable: split.password} if split.variable else {})


def router(web: Web) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    context = web.context
    Admin = Annotated[User, Depends(web.auth.admin)]
    Name = Annotated[str, Form(max_length=64)]
    Url = Annotated[str, Form(max_length=2000)]
    Purpose = Annotated[str, Form(max_length=32)]
    Fps = Annotated[float, Form(gt=0, le=60)]
    Snapshot = Annotated[bool, Form()]  # a checkbox: absent when not ticked

    def render(
        request: Request, user: User, error: str = "", status: int = 200, **kept: Any
    ) -> HTMLResponse:
        values = {"name": "", "purpose": "footfall", "fps": 10.0, "snapshot": False} | kept
        return web.page(
            request, "add_camera.html.j2", user, status, purposes=CHOICES, purpose_text=PURPOSES,
            error=error, values=values, config_name=context.loaded.path.name, nav="overview",
        )  # fmt: skip

    def scrubbed(text: str, url: str) -> str:
        return web.scrub(redact_text(text, url_secrets(url)))

    @routes.get("/cameras/new")
    def form(request: Request, user: Admin) -> HTMLResponse:
        return render(request, user)

    @routes.post("/cameras/new/test", dependencies=[Depends(web.auth.check_csrf)])
    async def test(
        user: Admin, name: Name, url: Url, purpose: Purpose, fps: Fps, snapshot: Snapshot = False
    ) -> Response:
        try:
            camera = new_camera(web, name, url, purpose, fps, snapshot).camera
        except (CameraFormError, OnsightError) as exc:
            return JSONResponse({"ok": False, "reason": scrubbed(str(exc), url)})
        result = await run_in_threadpool(
            lambda: probe(name, camera.url, camera.fps, _TEST_WIDTH, snapshot=camera.snapshot)
        )
        if result.frame is None:
            return JSONResponse({"ok": False, "reason": scrubbed(result.reason, url)})
        image = result.frame.image
        redaction = await run_in_threadpool(redact, image, camera, context.finders)
        jpeg = encode_redacted(redaction, ".jpg", 80)
        web.audit("image_view", user, camera=name, kind="connection_test")
        height, width = image.shape[:2]
        return JSONResponse({
            "ok": True,
            "image": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii"),
            "size": f"{width} x {height}",
            "redaction": redaction.mode,
        })  # fmt: skip

    @routes.post("/cameras/new", dependencies=[Depends(web.auth.check_csrf)])
    def add(
        request: Request,
        user: Admin,
        name: Name,
        url: Url,
        purpose: Purpose,
        fps: Fps,
        snapshot: Snapshot = False,
    ) -> Response:
        kept = {"name": name, "purpose": purpose, "fps": fps, "snapshot": snapshot}
        try:
            new = new_camera(web, name, url, purpose, fps, snapshot)
            context.loaded = context.runner.add_camera(
                context.loaded, new.entry, new.secrets, user.name
            )
        except (CameraFormError, OnsightError) as exc:
            return render(request, user, scrubbed(str(exc), url), 400, **kept)
        return RedirectResponse("/", status_code=303)

    return routes
