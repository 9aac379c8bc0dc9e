"""Regression tests for the web security findings of issue 16 (section 7) and the login audit
records of section 6: each test names the finding it guards.

A real Runner over a config whose camera is an RTSP URL to a dead port, served in process
through Starlette's TestClient (with a chosen client address) and, where concurrency or the
HTTP framing matters, by uvicorn. No clock is read for assertions: expiries are moved in the
users database instead of waiting for them.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from onsight.privacy.audit import AuditRecord
from onsight.service.auth import User
from onsight.service.security import SESSION_COOKIE
from onsight.service.throttle import Attempt, LoginLimiter
from onsight.types import utc_iso
from tests.browser.service import PASSWORDS, Service, from_config
from tests.conftest import assets_dir, require
from tests.integration.mosquitto import free_port

PER_MINUTE = 5
IDLE_HOURS = 2.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _config(dead_port: int) -> str:
    return f"""\
site: security-site
cameras:
  - name: door
    url: "rtsp://127.0.0.1:{dead_port}/stream"
    fps: 5
    lines:
      - name: entry
        points: [[0.1, 0.5], [0.9, 0.5]]
server:
  login_attempts_per_minute: {PER_MINUTE}
  session_hours: {IDLE_HOURS}
  session_max_hours: 24
  server_names: [onsight.lan]
  public_origins: [https://onsight.example.com]
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require(assets_dir() / "models" / "yolox_nano_416_coco.onnx", "default model")
    folder = tmp_path_factory.mktemp("security")
    config = folder / "onsight.yaml"
    config.write_text(_config(free_port()), encoding="utf-8")
    old = os.umask(0o022)  # the usual umask, under which SQLite alone makes files 0644
    try:
        service = from_config(config)
    finally:
        os.umask(old)
    service.runner.start()
    try:
        yield service
    finally:
        service.close()


@pytest.fixture(scope="module")
def served(service: Service) -> str:
    """The same app behind uvicorn (real HTTP and real concurrency); its base URL."""
    return service.serve()


def _client(service: Service, address: str, base_url: str = "http://testserver") -> TestClient:
    return TestClient(
        service.app,
        base_url=base_url,
        follow_redirects=False,
        raise_server_exceptions=False,
        client=(address, 50000),
    )


def _login(service: Service, address: str, user: str = "viewer") -> tuple[TestClient, str]:
    client = _client(service, address)
    response = client.post("/login", data={"username": user, "password": PASSWORDS[user]})
    assert response.status_code == 303, response.text
    match = CSRF.search(client.get("/").text)
    assert match is not None
    return client, match.group(1)


def _wrong(client: TestClient, name: str = "viewer") -> int:
    data = {"username": name, "password": "wrong-password-0"}
    return client.post("/login", data=data).status_code


def _audit(service: Service, action: str) -> list[AuditRecord]:
    return [r for r in service.runner.audit.tail(10_000) if r.action == action]


def _users_db(service: Service) -> sqlite3.Connection:
    return sqlite3.connect(service.context.users.path, isolation_level=None)


def _session_key(client: TestClient) -> str:
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie is not None
    return hashlib.sha256(cookie.encode()).hexdigest()


def _max_age(response: httpx.Response) -> int | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{SESSION_COOKIE}="):
            found = re.search(r"max-age=(\d+)", header, re.IGNORECASE)
            return int(found.group(1)) if found else None
    return None


# --- the login limiter ---------------------------------------------------------------------


def test_concurrent_wrong_passwords_are_checked_at_most_the_limit(
    service: Service, served: str
) -> None:
    """Finding: the blocked check and the failure count were separate (30 -> 18 checks)."""
    before = len(_audit(service, "login_failed"))
    barrier = threading.Barrier(30)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        data = {"username": f"guess{n}", "password": f"wrong-password-{n}"}
        with httpx.Client(base_url=served, timeout=60) as client:
            barrier.wait()
            response = client.post("/login", data=data)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in answers)
    checked = statuses.count(401)
    assert 1 <= checked <= PER_MINUTE and statuses.count(429) == 30 - checked, statuses
    assert all(r.headers["retry-after"].isdigit() for r in answers if r.status_code == 429)
    # Each password check that ran is one audit record; a refusal checked nothing.
    assert len(_audit(service, "login_failed")) - before == checked


def test_password_checks_beyond_the_bound_are_refused_with_retry_after(service: Service) -> None:
    """Finding: unbounded concurrent scrypt checks (about 32 MiB each) drove RSS to 1.4 GB."""
    limiter = service.app.state.login_limiter
    assert isinstance(limiter, LoginLimiter)
    held = [limiter.attempt(f"10.2.0.{n}", "someone") for n in range(2)]  # every slot busy
    try:
        assert all(isinstance(a, Attempt) for a in held)
        busy = _client(service, "10.2.1.1").post(
            "/login", data={"username": "viewer", "password": PASSWORDS["viewer"]}
        )
        assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
        assert "busy" in busy.text and "set-cookie" not in busy.headers
    finally:
        for attempt in held:
            assert isinstance(attempt, Attempt)
            attempt.failed()
    _login(service, "10.2.1.1")  # the refusal counted against nobody


def test_a_successful_login_does_not_wipe_the_address_count(service: Service) -> None:
    """Finding: a valid account reset its address's counter, then sprayed other names."""
    client = _client(service, "10.3.0.1")
    for n in range(PER_MINUTE - 1):
        assert _wrong(client, f"victim{n}") == 401
    ok = client.post("/login", data={"username": "viewer", "password": PASSWORDS["viewer"]})
    assert ok.status_code == 303
    assert _wrong(client, "victim8") == 401  # the fifth failure of this minute...
    refused = client.post("/login", data={"username": "victim9", "password": "wrong-pass-1"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


def test_guesses_never_lock_the_user_out(service: Service) -> None:
    """Finding: five wrong passwords for a name locked its owner out; now the delay is per
    (address, name) and grows exponentially."""
    attacker = _client(service, "10.4.0.1")
    for _ in range(3):
        assert _wrong(attacker) == 401
    # From the 4th try on each waits 1, 2, 4 ... s: one of these comes too early, however
    # slow this machine is (no assumption about how long a request takes).
    statuses = [
        attacker.post("/login", data={"username": "viewer", "password": "again-wrong-1"})
        for _ in range(4)
    ]
    delayed = next((r for r in statuses if r.status_code == 429), None)
    assert delayed is not None, [r.status_code for r in statuses]
    assert int(delayed.headers["retry-after"]) >= 1
    assert _wrong(attacker, "someone-else") == 401  # only that name waits, from that address
    for n in range(PER_MINUTE + 2):  # the same name guessed from many addresses
        assert _wrong(_client(service, f"10.4.1.{n}")) == 401
    _login(service, "10.4.2.1")  # the owner still gets in from their own address


# --- sessions ------------------------------------------------------------------------------


def test_the_idle_expiry_slides_and_the_cookie_follows(service: Service) -> None:
    """Finding: the cookie's Max-Age was never refreshed while the server's expiry slid."""
    client, _ = _login(service, "10.5.0.1")
    key = _session_key(client)
    idle = int(IDLE_HOURS * 3600)
    with _users_db(service) as db:  # as if last used 30 minutes ago
        (expires,) = db.execute("SELECT expires FROM sessions WHERE id_sha256=?", (key,)).fetchone()
        earlier = datetime.fromisoformat(expires) - timedelta(minutes=30)
        db.execute("UPDATE sessions SET expires=? WHERE id_sha256=?", (utc_iso(earlier), key))
    page = client.get("/")
    assert page.status_code == 200
    max_age = _max_age(page)
    assert max_age is not None and idle - 300 < max_age <= idle, max_age
    assert _max_age(client.get("/")) is None  # not re-sent on every request
    with _users_db(service) as db:  # idle past the timeout: the server ends it
        db.execute("UPDATE sessions SET expires=? WHERE id_sha256=?", (utc_iso(T0), key))
    assert client.get("/").status_code == 303


def test_a_session_ends_at_its_absolute_lifetime_however_used(service: Service) -> None:
    """Finding: the server-side expiry slid forever, so a stolen cookie lived while used."""
    client, _ = _login(service, "10.5.1.1")
    key = _session_key(client)
    with _users_db(service) as db:
        row = db.execute("SELECT expires, not_after FROM sessions WHERE id_sha256=?", (key,))
        expires, not_after = (datetime.fromisoformat(t) for t in row.fetchone())
    assert not_after - expires == timedelta(hours=24 - IDLE_HOURS)  # session_max_hours: 24
    with _users_db(service) as db:  # its lifetime is over, though it was used a second ago
        db.execute("UPDATE sessions SET not_after=? WHERE id_sha256=?", (utc_iso(T0), key))
    assert client.get("/").status_code == 303
    with _users_db(service) as db:
        assert db.execute("SELECT 1 FROM sessions WHERE id_sha256=?", (key,)).fetchone() is None


def test_expired_sessions_are_purged_at_login(service: Service) -> None:
    """Finding: purge_expired_sessions had no caller."""
    viewer = User("viewer", "viewer")
    store = service.context.users
    for _ in range(3):
        store.create_session(viewer, timedelta(hours=1), now=T0)  # expired a year ago
    with _users_db(service) as db:
        stale = "SELECT count(*) FROM sessions WHERE expires <= ?"
        assert db.execute(stale, (utc_iso(T0 + timedelta(days=1)),)).fetchone()[0] >= 3
    _login(service, "10.5.2.1")
    with _users_db(service) as db:
        assert db.execute(stale, (utc_iso(T0 + timedelta(days=1)),)).fetchone()[0] == 0


def test_a_proxy_basic_header_does_not_hide_the_session(service: Service) -> None:
    """Finding: with a valid cookie, a reverse proxy's `Authorization: Basic` made every page
    a 401."""
    client, csrf = _login(service, "10.5.3.1")
    basic = {"Authorization": "Basic cHJveHl1c2VyOnByb3h5cGFzcw=="}
    assert client.get("/", headers=basic).status_code == 200
    assert client.get("/events", headers=basic).status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}, headers=basic).status_code == 303
    assert client.get("/", headers=basic).status_code == 303  # logged out: to the login page
    assert _client(service, "10.5.3.2").get("/api/cameras", headers=basic).status_code == 401


# --- Host, redirects, headers --------------------------------------------------------------


def test_unknown_host_names_are_refused(service: Service) -> None:
    """Finding: no Host validation, so a DNS-rebinding page could drive the login."""
    client = _client(service, "10.6.0.1")
    login = {"username": "viewer", "password": PASSWORDS["viewer"]}
    for host in (
        "evil.example",
        "evil.example:8080",
        "onsight.lan.evil.example",
        "127.0.0.1.nip.io",
    ):
        page = client.get("/login", headers={"Host": host})
        assert page.status_code == 400 and "evil" not in page.text and "nip" not in page.text
        # The rebinding page's own origin: same-origin passes, the Host check does not.
        posted = client.post(
            "/login", data=login, headers={"Host": host, "Origin": f"http://{host}"}
        )
        assert posted.status_code == 400 and "set-cookie" not in posted.headers
        api = client.get("/api/cameras", headers={"Host": host})
        assert api.status_code == 400 and "detail" in api.json()
    for host in ("localhost:8080", "LOCALHOST.", "127.0.0.1", "[::1]:8080", "192.168.1.20:8080",
                 "onsight.lan", "onsight.example.com", "testserver"):  # fmt: skip
        assert client.get("/login", headers={"Host": host}).status_code == 200, host


def test_a_missing_host_header_is_refused(served: str) -> None:
    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET /login HTTP/1.0\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]


def test_trailing_slash_redirects_are_relative(service: Service) -> None:
    """Finding: the trailing-slash redirect reflected the request's Host."""
    client = _client(service, "10.6.1.1")
    for host in ("localhost:8080", "onsight.lan"):
        response = client.get("/events/?kind=crossing", headers={"Host": host})
        assert response.status_code in (301, 307, 308), response.status_code
        assert response.headers["location"] == "/events?kind=crossing"
    assert client.get("/events/", headers={"Host": "evil.example"}).status_code == 400


def test_hsts_is_sent_over_tls_only(service: Service) -> None:
    """Finding: no HSTS over TLS."""
    tls = _client(service, "10.6.2.1", base_url="https://testserver")
    for path in ("/login", "/healthz", "/nowhere"):
        assert tls.get(path).headers["strict-transport-security"] == "max-age=31536000"
    plain = _client(service, "10.6.2.1")
    assert "strict-transport-security" not in plain.get("/login").headers


def test_validation_errors_never_echo_the_submitted_values(service: Service) -> None:
    """Finding: a too-long login field got a 422 page echoing the submitted password."""
    secret = "Hunter2-Secret-" * 100  # past the 1024-character limit
    client = _client(service, "10.6.3.1")
    page = client.post("/login", data={"username": "viewer", "password": secret})
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    assert "Hunter2" not in page.text and "password" in page.text
    long_name = client.post("/login", data={"username": "Hunter2" * 50, "password": "x" * 12})
    assert long_name.status_code == 422 and "Hunter2" not in long_name.text
    token = {"Authorization": f"Bearer {service.token}"}
    api = client.get("/api/events", params={"camera": secret[:300]}, headers=token)
    assert api.status_code == 422 and "Hunter2" not in api.text
    assert api.json()["detail"][0]["loc"] == ["query", "camera"]


# --- files and audit records ---------------------------------------------------------------


def test_every_database_is_private(service: Service) -> None:
    """Finding: audit.db and onsight.db were created 0644 (users.db was already 0600)."""
    folder = service.context.users.path.parent
    files = sorted(p for p in folder.iterdir() if ".db" in p.name)
    loaded = service.context.loaded
    assert {"users.db", "audit.db", "onsight.db"} <= {p.name for p in files}
    assert {loaded.database_path, loaded.resolve(loaded.config.privacy.audit_log)} <= set(files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_logins_are_audited_with_the_user_and_address_never_the_password(
    service: Service,
) -> None:
    """Section 6: every dashboard login, success and failure, with the user and (finding)
    the client address; also the CSV export."""
    client = _client(service, "10.7.0.1")
    assert _wrong(client, "admin") == 401
    client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"]})
    failed, success = _audit(service, "login_failed")[-1], _audit(service, "login")[-1]
    assert failed.actor == "anonymous"
    assert failed.details() == {"name": "admin", "address": "10.7.0.1"}
    assert success.actor == "admin" and success.details() == {"address": "10.7.0.1"}
    assert client.get("/events.csv").status_code == 200
    assert _audit(service, "export")[-1].actor == "admin"
    loaded = service.context.loaded
    raw = loaded.resolve(loaded.config.privacy.audit_log).read_bytes()
    assert b"wrong-password-0" not in raw and PASSWORDS["admin"].encode() not in raw
