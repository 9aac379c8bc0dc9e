"""The web service over a real Runner on a sample clip, through Starlette's TestClient:
authentication everywhere but the public routes, roles, CSRF, login rate limit, audited
export, the editor's validation and save, and schemathesis against the OpenAPI document.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest
import schemathesis
import yaml
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from starlette.routing import Mount, Route

from onsight.service import charts
from tests.browser.service import CAMERA, CLIP, CLIP_ENV, PASSWORDS, Service, build
from tests.conftest import assets_dir, require

PUBLIC = {"/healthz", "/login", "/notice"}
# Examples per operation and mode; `make fuzz` runs many more than `make test`.
FUZZ_EXAMPLES = int(os.environ.get("ONSIGHT_FUZZ_EXAMPLES", "25"))
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require(assets_dir() / "models" / "yolox_nano_416_coco.onnx", "default model")
    clip = require(assets_dir() / "video" / CLIP, f"sample video {CLIP}")
    service = build(tmp_path_factory.mktemp("service"), clip)
    service.play()
    try:
        yield service
    finally:
        service.close()


def _client(service: Service, address: str = "testclient") -> TestClient:
    return TestClient(service.app, follow_redirects=False, client=(address, 50000))


def _login(service: Service, user: str) -> tuple[TestClient, str]:
    """A client with `user`'s session cookie, and the session's CSRF token."""
    client = _client(service)
    response = client.post("/login", data={"username": user, "password": PASSWORDS[user]})
    assert response.status_code == 303, response.text
    page = client.get("/")
    match = CSRF.search(page.text)
    assert match is not None
    return client, match.group(1)


def _audit(service: Service, action: str) -> list[Any]:
    return [r for r in service.runner.audit.tail(500) if r.action == action]


def _paths(service: Service) -> Iterator[tuple[str, str, str]]:
    """(method, route path, concrete path) for every route of the app."""
    for route in iter_route_contexts(service.app.routes):  # included routers flattened
        if isinstance(route.original_route, Mount):
            assert route.path == "/static"
            continue
        assert isinstance(route.original_route, APIRoute | Route), route
        assert route.path is not None
        path = route.path.replace("{name}", CAMERA).replace("{number}", "1")
        assert "{" not in path, f"fill the path parameters of {route.path}"
        for method in sorted((route.methods or set()) - {"HEAD"}):
            yield method, route.path, path


def test_every_route_but_the_public_ones_needs_a_login(service: Service) -> None:
    anonymous = _client(service)
    seen = 0
    for method, template, path in _paths(service):
        response = anonymous.request(method, path)
        if template in PUBLIC:
            continue
        seen += 1
        assert response.status_code in (401, 303), (method, path, response.status_code)
        if response.status_code == 401:
            assert response.headers["www-authenticate"] == "Bearer"
            assert path.startswith(("/api/", "/metrics")), path
        else:
            assert response.headers["location"].startswith("/login?next="), path
        forged = anonymous.request(method, path, headers={"Authorization": "Bearer onsight_x"})
        assert forged.status_code == 401, (method, path)
    assert seen >= 12
    for path in ("/healthz", "/login", "/notice", "/static/onsight.css", "/static/editor.js"):
        assert anonymous.get(path).status_code == 200, path
    health = anonymous.get("/healthz").json()
    assert set(health) == {"status", "cameras"} and set(health["cameras"]) == {CAMERA}


def test_a_redirect_to_login_never_leaves_the_site(service: Service) -> None:
    client = _client(service)
    assert client.get("/events?kind=crossing").headers["location"] == (
        "/login?next=%2Fevents%3Fkind%3Dcrossing"
    )
    assert 'name="next" value="/"' in client.get("/login?next=//evil.example/").text
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = client.post(
            "/login",
            data={"username": "viewer", "password": PASSWORDS["viewer"], "next": target},
        )
        assert response.headers["location"] == "/", target


def test_login_sets_a_strict_http_only_cookie_and_logout_needs_csrf(service: Service) -> None:
    client = _client(service)
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORDS["admin"], "next": "/health"},
    )
    assert response.status_code == 303 and response.headers["location"] == "/health"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    assert any(r.actor == "admin" for r in _audit(service, "login"))
    token = CSRF.search(client.get("/").text)
    assert token is not None
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/").status_code == 200  # still logged in
    assert client.post("/logout", data={"csrf_token": token.group(1)}).status_code == 303
    assert client.get("/").status_code == 303  # the session is gone


def test_security_headers(service: Service) -> None:
    client = _client(service)
    headers = client.get("/login").headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "img-src 'self' data:" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    notice = client.get("/notice").headers["content-security-policy"]
    assert "script-src" not in notice and "default-src 'none'" in notice


def test_a_viewer_cannot_use_the_editor(service: Service) -> None:
    client, csrf = _login(service, "viewer")
    before = service.config.read_bytes()
    assert "/editor/" not in client.get("/").text
    assert client.get(f"/editor/{CAMERA}").status_code == 403
    geometry = json.dumps({"lines": [], "zones": []})
    response = client.post(f"/editor/{CAMERA}", data={"csrf_token": csrf, "geometry": geometry})
    assert response.status_code == 403
    assert service.config.read_bytes() == before


def test_the_editor_refuses_bad_geometry_and_a_missing_csrf_token(service: Service) -> None:
    client, csrf = _login(service, "admin")
    before = service.config.read_bytes()
    line = {"name": "path", "points": [[0.45, 0.25], [0.45, 1.0]]}
    cases = {
        "zone 'bad'": {"lines": [line], "zones": [{"name": "bad", "polygon": [[0, 0], [1, 1]]}]},
        "duplicate name": {"lines": [line, line], "zones": []},
        "letters, digits": {"lines": [{**line, "name": "no spaces"}], "zones": []},
        "could not be read": "not json",
        "line 'inf'": '{"lines": [{"name": "inf", "points": [[Infinity, 0], [1, 1]]}]}',
        "reload the editor": "[" * 50_000,
    }
    for message, geometry in cases.items():
        text = geometry if isinstance(geometry, str) else json.dumps(geometry)
        response = client.post(f"/editor/{CAMERA}", data={"csrf_token": csrf, "geometry": text})
        shown = html.unescape(response.text)
        assert response.status_code == 400 and message in shown, message
        print(re.search(r"Not saved: [^<]*", shown))
    ok = json.dumps({"lines": [line], "zones": []})
    assert client.post(f"/editor/{CAMERA}", data={"geometry": ok}).status_code == 403
    assert service.config.read_bytes() == before


def test_the_editor_saves_keeps_env_references_and_applies_at_once(service: Service) -> None:
    client, csrf = _login(service, "admin")
    door = {"name": "door", "points": [[0.1, 0.9], [0.9, 0.9]]}
    path = {"name": "path", "points": [[0.45, 0.25], [0.45, 1.0]]}
    geometry = json.dumps({"lines": [path, door], "zones": []})  # the zone "left" is deleted
    response = client.post(f"/editor/{CAMERA}", data={"csrf_token": csrf, "geometry": geometry})
    assert response.status_code == 303
    assert response.headers["location"] == f"/editor/{CAMERA}?saved=1"
    text = service.config.read_text(encoding="utf-8")
    assert "${" + CLIP_ENV + "}" in text
    camera = yaml.safe_load(text)["cameras"][0]
    assert [line["name"] for line in camera["lines"]] == ["path", "door"]
    assert camera["lines"][0]["in_name"] == "westward" and "zones" not in camera
    assert "A comment" in service.config.with_name("onsight.yaml.bak").read_text()
    assert service.config.stat().st_mode & 0o777 == 0o600
    api = client.get("/api/cameras").json()[0]
    assert [line["name"] for line in api["lines"]] == ["path", "door"] and api["zones"] == []
    change = _audit(service, "config_change")[-1]
    assert change.actor == "admin" and change.details()["lines"] == ["path", "door"]
    assert service.context.loaded.config.cameras[0].lines[1].name == "door"


def test_login_is_rate_limited_per_address_and_per_user(service: Service) -> None:
    attacker = _client(service, "10.9.9.9")
    for n in range(5):  # five names: the per-address limit, not one name's delay
        response = attacker.post("/login", data={"username": f"nobody{n}", "password": "x" * 12})
        assert response.status_code == 401
    right = {"username": "viewer", "password": PASSWORDS["viewer"]}
    assert attacker.post("/login", data=right).status_code == 429  # this address is blocked
    assert _client(service, "10.9.9.10").post("/login", data=right).status_code == 303
    service.context.users.add_user("carol", "carol-password-1", "viewer")
    for n in range(5):  # one user name from many addresses
        guess = {"username": "carol", "password": f"wrong-guess-{n}"}
        assert _client(service, f"10.8.0.{n}").post("/login", data=guess).status_code == 401
    carol = {"username": "carol", "password": "carol-password-1"}
    # Guesses from elsewhere never lock carol out (issue 16): limits are per address and
    # per (address, name), see tests/integration/test_service_security.py.
    assert _client(service, "10.8.1.1").post("/login", data=carol).status_code == 303
    failed = _audit(service, "login_failed")
    assert failed[-1].details()["name"] == "carol"  # a known user name is kept
    names = {str(r.details()["name"]) for r in failed}
    assert not any(name.startswith("nobody") for name in names)  # a typo might be a password


def test_csv_export_is_audited(service: Service) -> None:
    client, _ = _login(service, "viewer")
    response = client.get("/events.csv", params={"kind": "crossing", "camera": CAMERA})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0].startswith("kind,time,camera,name,class,direction")
    record = _audit(service, "export")[-1]
    assert record.actor == "viewer"
    assert record.details()["rows"] == len(lines) - 1
    assert record.details()["filters"] == {"camera": CAMERA, "kind": "crossing"}


def test_the_snapshot_is_a_redacted_jpeg_and_is_audited(service: Service) -> None:
    client, _ = _login(service, "viewer")
    deadline = time.monotonic() + 120
    response = client.get(f"/cameras/{CAMERA}/snapshot.jpg")
    while response.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.5)  # the pipeline has not analysed its first frame yet
        response = client.get(f"/cameras/{CAMERA}/snapshot.jpg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[:2] == (360, 480)
    assert _audit(service, "image_view")[-1].actor == "viewer"
    assert client.get("/cameras/nowhere/snapshot.jpg").status_code == 404


def test_api_query_validation(service: Service) -> None:
    client = _client(service)
    auth = {"Authorization": f"Bearer {service.token}"}
    for query in ("limit=0", "limit=1001", "since=yesterday", "kind=face", "camera=a%20b"):
        assert client.get(f"/api/events?{query}", headers=auth).status_code == 422, query
    for query in ("since=0001-01-01T00:00:00%2B05:00", "until=9999-12-31T23:59:59-05:00"):
        assert client.get(f"/api/events?{query}", headers=auth).status_code == 200, query
    events = client.get("/api/events?limit=5&kind=crossing", headers=auth).json()
    assert all(e["kind"] == "crossing" and e["time"].endswith("Z") for e in events)
    assert client.get("/metrics", headers=auth).text.startswith("# HELP")


def test_schemathesis_finds_no_server_error(service: Service) -> None:
    """Valid and (where there are parameters) invalid requests: never a 5xx."""
    auth = {"Authorization": f"Bearer {service.token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.app, headers=auth)
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert {op.path for op in operations} >= {"/api/cameras", "/api/events", "/healthz"}
    for operation in operations:
        modes = [schemathesis.GenerationMode.POSITIVE]
        if any(True for _ in operation.iter_parameters()):
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=FUZZ_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                case.call_and_validate(headers=auth, checks=[not_a_server_error])

            check()


def test_charts_scale_to_the_data_and_leave_gaps() -> None:
    assert charts.nice_ticks(7, integer=True) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(1, integer=True) == [0, 1]  # no quarter people
    bars = charts.stacked_bars("c", ["a", "b"], {"in": [3, 0], "out": [1, 0]})
    assert [b.series for b in bars.bars] == [0, 1] and not bars.empty
    assert max(b.y + b.height for b in bars.bars) == bars.bottom
    line = charts.line_chart("o", ["1", "2", "3", "4"], {"z": [1.0, 2.0, None, 0.5]})
    assert len(line.polylines) == 1 and len(line.dots) == 1  # the gap splits the series
    assert charts.line_chart("o", ["1"], {"z": [None]}).empty
