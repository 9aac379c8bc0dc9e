"""The geometry editor (admins only): draw on a redacted snapshot, validate, save, apply.

The browser posts, as JSON in a form field, the camera's complete set of items of each kind
it draws (lines, zones, queues, restricted areas, stations: the registry's kinds with a
`shape`) and its ignored areas. An item keeps its other settings (classes, in/out names,
dwell, ...) when it keeps its name or names the item it was renamed from (`was`); a queue
served at a renamed line follows it. A kind the client does not send is left as it is.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import json
import math
from typing import Annotated, Any, Literal, NamedTuple

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from onsight.apps.base import AppKind
from onsight.apps.line_count import KIND as LINES
from onsight.apps.occupancy import KIND as ZONES
from onsight.apps.registry import kinds
from onsight.config._base import NAME_RULE, Polygon
from onsight.config.calibration import KEEP, CalibrationConfig
from onsight.config.models import CameraConfig
from onsight.errors import ConfigError
from onsight.runtime import CameraHandle
from onsight.service.auth import User
from onsight.service.overlay import frame_size, overlay
from onsight.service.web import Web

MAX_ITEMS = 50  # items of each kind (lines, zones, ...) per camera
_MAX_FIELD = 200_000


class GeometryError(ValueError):
    """The drawing cannot be saved; the message is shown to the user."""


class Drawing(NamedTuple):
    sections: dict[str, list[Any]]  # camera config section (e.g. "lines") -> items
    ignore: list[Polygon]
    calibration: CalibrationConfig | Literal["keep"] | None = KEEP
    renamed: dict[str, dict[str, str]] | None = None  # section -> {old name: new name}


def _calibration(data: dict[str, Any]) -> CalibrationConfig | Literal["keep"] | None:
    """The clicked calibration: kept when not sent, removed when sent without points."""
    if "calibration" not in data:
        return KEEP
    sent = data["calibration"]
    if sent is None or (isinstance(sent, dict) and not sent.get("image")):
        return None
    if not isinstance(sent, dict):
        raise GeometryError("calibration must be an object with image and ground points")
    fields = {"image": _rounded(sent.get("image")), "ground": sent.get("ground")}
    try:
        return CalibrationConfig.model_validate(fields)
    except ValidationError as exc:
        raise GeometryError(f"calibration: {_message(exc)}") from None


def _message(exc: ValidationError) -> str:
    error = exc.errors(include_input=False)[0]
    loc = [str(part) for part in error["loc"]]
    text = str(error["msg"]).removeprefix("Value error, ")
    if loc and loc[-1] == "name" and error["type"] == "string_pattern_mismatch":
        text = NAME_RULE
    return f"{'.'.join(loc)}: {text}" if loc else text


def _rounded(points: Any) -> Any:
    """Points rounded to 4 decimals (0.1 px at 1000 px); anything else left to validation."""
    if not isinstance(points, list):
        return points
    return [[_coordinate(c) for c in p] if isinstance(p, list) else p for p in points]


def _coordinate(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) and math.isfinite(value) else value


def _items(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise GeometryError(f"{key} must be a list of objects")
    if len(items) > MAX_ITEMS:
        raise GeometryError(f"at most {MAX_ITEMS} {key} per camera")
    return items


def _merged(
    items: list[dict[str, Any]],
    old: dict[str, dict[str, Any]],
    kind: AppKind[Any, Any],
    renamed: dict[str, str],
) -> list[dict[str, Any]]:
    """Each drawn item's name, shape and editable fields over the settings of the old item
    it was (`was`, for a renamed item; else the same name): classes, in/out names, ...,
    checked by the kind's config model. Renames are added to `renamed` (old -> new)."""
    assert kind.shape is not None
    merged: list[dict[str, Any]] = []
    # A name another item was renamed from is not inherited by a new item given that name.
    claimed = {
        i["was"] for i in items if isinstance(i.get("was"), str) and i["was"] != i.get("name")
    }
    for item in items:
        name = item.get("name")
        was = item.get("was", None if name in claimed else name)
        before = old.get(was, {}) if isinstance(was, str) else {}
        if before and isinstance(was, str) and isinstance(name, str) and was != name:
            renamed[was] = name
        fields = {**before, "name": name, kind.shape: _rounded(item.get(kind.shape))}
        for key in kind.edits:
            if key in item:
                fields[key] = item[key]
        try:
            kind.config.model_validate(fields)
        except ValidationError as exc:
            raise GeometryError(f"{kind.noun} {name!r}: {_message(exc)}") from None
        merged.append(fields)
    return merged


def drawn_kinds() -> list[AppKind[Any, Any]]:
    """The app kinds the editor draws, one per camera config section."""
    found: dict[str, AppKind[Any, Any]] = {}
    for kind in kinds():
        if kind.shape is not None:
            found.setdefault(kind.section, kind)
    return list(found.values())


def _ignore(data: dict[str, Any], current: list[Polygon]) -> list[Any]:
    """The drawn ignored areas; a client that sends none (an older editor) keeps them."""
    if "ignore" not in data:
        return [list(polygon) for polygon in current]
    polygons = data["ignore"]
    if not isinstance(polygons, list):
        raise GeometryError("ignore must be a list of polygons")
    if len(polygons) > MAX_ITEMS:
        raise GeometryError(f"at most {MAX_ITEMS} ignored areas per camera")
    return [_rounded(polygon) for polygon in polygons]


def parse_geometry(text: str, config: CameraConfig) -> Drawing:
    """Validated lines, zones and ignored areas from the editor's JSON over the camera's
    `config`; `GeometryError` with a clear message."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise GeometryError("the drawing could not be read; reload the editor") from None
    if not isinstance(data, dict):
        raise GeometryError("the drawing could not be read; reload the editor")
    sections: dict[str, list[Any]] = {}
    renamed: dict[str, dict[str, str]] = {}
    for kind in drawn_kinds():
        current = list(getattr(config, kind.section))
        if kind.section not in data:  # a client that does not draw this kind keeps it
            sections[kind.section] = current
            continue
        old = {item.name: item.model_dump() for item in current}
        merged = _merged(
            _items(data, kind.section), old, kind, renamed.setdefault(kind.section, {})
        )
        sections[kind.section] = [kind.config.model_validate(fields) for fields in merged]
    _follow_renamed_lines(sections, renamed.get(LINES.section, {}))
    calibration = _calibration(data)
    camera = config.model_dump()
    camera.update(
        {key: [item.model_dump() for item in items] for key, items in sections.items()},
        ignore=_ignore(data, config.ignore),
    )
    if calibration != KEEP:
        camera["calibration"] = None if calibration is None else calibration.model_dump()
    try:  # unique names, areas, and the camera's purpose must allow what is drawn
        checked = CameraConfig.model_validate(camera)
    except ValidationError as exc:
        raise GeometryError(_message(exc)) from None
    return Drawing(sections, checked.ignore, calibration, {k: v for k, v in renamed.items() if v})


def _follow_renamed_lines(sections: dict[str, list[Any]], renamed: dict[str, str]) -> None:
    """A queue served at a renamed line is served at its new name."""
    queues = sections.get("queues")
    if not renamed or queues is None:
        return
    sections["queues"] = [
        q.model_copy(update={"served_line": renamed[q.served_line]})
        if getattr(q, "served_line", None) in renamed
        else q
        for q in queues
    ]


def _current(config: CameraConfig) -> dict[str, Any]:
    """What the editor starts from: each drawn section's items, and the ignored areas."""
    current: dict[str, Any] = {}
    for kind in drawn_kinds():
        assert kind.shape is not None
        keep = {"name", kind.shape, "in_name", "out_name", *kind.edits}
        items = getattr(config, kind.section)
        current[kind.section] = [item.model_dump(include=keep) for item in items]
    current["ignore"] = config.ignore
    calibration = config.calibration
    current["calibration"] = None if calibration is None else calibration.model_dump()
    return current


def _sections(config: CameraConfig) -> list[dict[str, str]]:
    """The kinds this camera's purpose allows, for the page's tools and its script."""
    return [
        {"key": k.section, "shape": k.shape or "", "noun": k.noun, "heading": k.heading}
        for k in drawn_kinds()
        if config.purpose in k.purposes
    ]


def router(web: Web) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    context = web.context
    Admin = Annotated[User, Depends(web.auth.admin)]

    def render(
        request: Request,
        user: User,
        camera: CameraHandle,
        geometry: dict[str, Any] | None = None,
        error: str = "",
        saved: bool = False,
        status: int = 200,
    ) -> HTMLResponse:
        size = frame_size(camera)
        lines, zones = camera.items(LINES), camera.items(ZONES)
        config = camera.config
        return web.page(
            request,
            "editor.html.j2",
            user,
            status,
            camera=camera.name,
            overlay=overlay(lines, zones, size),
            geometry=json.dumps(geometry or _current(config)),
            sections=_sections(config),
            sections_json=json.dumps(_sections(config)),
            error=error,
            saved=saved,
            config_name=context.loaded.path.name,
            nav="overview",
        )

    @routes.get("/editor/{name}")
    def editor(name: str, request: Request, user: Admin, saved: str = "") -> HTMLResponse:
        return render(request, user, web.camera(name), saved=saved == "1")

    @routes.post("/editor/{name}", dependencies=[Depends(web.auth.check_csrf)])
    def save(
        name: str,
        request: Request,
        user: Admin,
        geometry: Annotated[str, Form(max_length=_MAX_FIELD)] = "",
    ) -> Response:
        camera = web.camera(name)
        try:
            drawing = parse_geometry(geometry, camera.config)
        except GeometryError as exc:
            try:  # show what was drawn, so the user can fix it rather than start again
                drawn = json.loads(geometry)
            except (ValueError, RecursionError):
                drawn = None
            shown = drawn if isinstance(drawn, dict) else None
            return render(request, user, camera, shown, str(exc), status=400)
        try:
            context.loaded = camera.change_geometry(
                context.loaded, drawing.sections, drawing.ignore, user.name,
                drawing.calibration, drawing.renamed,
            )  # fmt: skip
        except ConfigError as exc:
            return render(request, user, camera, None, str(exc), status=400)
        return RedirectResponse(f"/editor/{name}?saved=1", status_code=303)

    return routes
