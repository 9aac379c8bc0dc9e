"""What every route module shares: the context, authentication, templates and look-ups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse

from onsight.privacy.audit import AuditAction
from onsight.runtime import CameraPipeline
from onsight.service.auth import User
from onsight.service.queries import EventQueries
from onsight.service.security import CSRF_FIELD, Authenticator
from onsight.templating import templates

if TYPE_CHECKING:
    from onsight.service.app import ServiceContext


class Web:
    def __init__(self, context: ServiceContext, auth: Authenticator) -> None:
        self.context = context
        self.auth = auth
        self.queries = EventQueries(context.loaded.database_path)

    @property
    def site(self) -> str:
        return self.context.loaded.config.site

    def pipeline(self, name: str) -> CameraPipeline:
        """The camera's pipeline; 404 for a name that is not in the config."""
        for pipeline in self.context.runner.pipelines:
            if pipeline.camera.name == name:
                return pipeline
        raise HTTPException(404, f"no camera named {name!r}")

    def audit(self, action: AuditAction, user: User | str, **detail: Any) -> None:
        actor = user.name if isinstance(user, User) else user
        self.context.runner.audit.append(action, actor=actor, **detail)

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
            templates("onsight.service")
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


