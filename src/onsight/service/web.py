"""What every route module shares: the context, authentication, templates and look-ups."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from onsight.ingest.urls import redact_text, url_secrets
from onsight.privacy.audit import AuditAction
from onsight.runtime import CameraHandle
from onsight.runtime.stats import CameraHealth
from onsight.service.auth import User
from onsight.service.context import ServiceContext
from onsight.service.queries import EventQueries
from onsight.service.security import CSRF_FIELD, Authenticator
from onsight.templating import templates


class Pages:
    """Renders pages with what the base template needs (user, nav, logout form token): the
    site's dashboard and the fleet's share this."""

    auth: Authenticator

    @property
    def site(self) -> str:
        """The name in the page header."""
        raise NotImplementedError

    def environment(self) -> Environment:
        return templates("onsight.service")

    def page(
        self,
        request: Request,
        template: str,
        user: User | None,
        status: int = 200,
        **values: Any,
    ) -> HTMLResponse:
        """Render a page with what the base template needs (user, nav, logout form token)."""
        session = self.auth.session(request) if user is not None else None
        html = (
            self.environment()
            .get_template(template)
            .render(
                site=self.site,
                user=user,
                csrf=session.csrf_token if session is not None else None,
                csrf_field=CSRF_FIELD,
                path=request.url.path,
                **values,
            )
        )
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, status: int, message: str) -> HTMLResponse:
        session = self.auth.session(request)
        user = session.user if session is not None else None
        return self.page(request, "error.html.j2", user, status, code=status, message=message)


class Web(Pages):
    def __init__(self, context: ServiceContext, auth: Authenticator) -> None:
        self.context = context
        self.auth = auth
        self.queries = EventQueries(context.loaded.database_path)

    @property
    def site(self) -> str:
        return self.context.loaded.config.site

    def camera(self, name: str) -> CameraHandle:
        """The camera's handle; 404 for a name that is not in the config."""
        camera = self.context.runner.camera(name)
        if camera is not None:
            return camera
        shown = name if len(name) <= 80 else name[:80] + "..."  # the URL is the client's
        raise HTTPException(404, f"no camera named {shown!r}")

    def health(self, camera: CameraHandle) -> CameraHealth:
        """The camera's health (`failed` with the reason when the runner gave it up), with
        any credential scrubbed from the reason."""
        health = camera.health()
        if health.reason is not None:
            return replace(health, reason=self.scrub(health.reason))
        return health

    def scrub(self, text: str) -> str:
        """`text` without any credential of the config: for messages shown on pages.

        The runtime already redacts what it reports; this holds even if a message slips by.
        """
        config = self.context.loaded.config
        secrets = list(self.context.loaded.secrets)
        for camera in config.cameras:
            secrets.extend(url_secrets(camera.url))
            if camera.detect_url:
                secrets.extend(url_secrets(camera.detect_url))
        if config.mqtt is not None and config.mqtt.password:
            secrets.append(config.mqtt.password)
        for hook in config.webhooks:
            secrets.extend((hook.secret, *url_secrets(hook.url)))
        return redact_text(text, secrets)

    def audit(self, action: AuditAction, user: User | str, **detail: Any) -> None:
        actor = user.name if isinstance(user, User) else user
        self.context.runner.audit.append(action, actor=actor, **detail)
