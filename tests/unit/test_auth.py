"""Authentication: password hashing, users, tokens, sessions, login limits, the CLI, and the
request-level checks behind a real uvicorn server.

No `from __future__ import annotations` here: FastAPI must evaluate the route annotations,
which refer to the local `auth`.
"""

import hashlib
import os
import socket
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from typer.testing import CliRunner

from onsight.config import load_config
from onsight.config.service import ServerConfig
from onsight.privacy.audit import AuditLog
from onsight.service.auth import User, UserStore, hash_password, verify_password
from onsight.service.cli import tokens_app, users_app
from onsight.service.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    Authenticator,
    AuthRequired,
    Forbidden,
    safe_next,
    set_session_cookie,
)
from onsight.service.throttle import (
    MAX_DELAY,
    PAIR_FORGET,
    PAIR_FREE,
    Attempt,
    LoginLimiter,
    Refused,
    address_key,
    pair_delay,
)

PASSWORD = "correct horse battery"
HOUR = timedelta(hours=1)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[UserStore]:
    with UserStore(tmp_path / "data" / "users.db") as opened:
        yield opened


def test_password_hash_round_trip_and_wrong_password() -> None:
    encoded = hash_password(PASSWORD)
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**15), "8", "1")
    assert PASSWORD not in encoded and encoded != hash_password(PASSWORD)  # salted
    assert verify_password(PASSWORD, encoded)
    assert not verify_password(PASSWORD + "!", encoded)
    assert not verify_password(PASSWORD, "scrypt$bad")
    assert not verify_password(PASSWORD, encoded.replace("scrypt$", "md5$"))
    assert not verify_password(PASSWORD, f"scrypt${2**30}$8$1${salt}${digest}")  # too costly


def test_short_password_is_rejected_with_a_clear_message(store: UserStore) -> None:
    with pytest.raises(ValueError, match="at least 10 characters"):
        hash_password("short")
    with pytest.raises(ValueError, match="at least 10 characters"):
        store.add_user("alice", "123456789", "admin")
    assert not store.has_users()


def test_users_roles_duplicates_and_authentication(store: UserStore) -> None:
    assert not store.has_users()
    store.add_user("alice", PASSWORD, "admin")
    store.add_user("bob@example.org", PASSWORD + "2", "viewer")
    assert store.has_users()
    with pytest.raises(ValueError, match="user alice already exists"):
        store.add_user("alice", "another password", "viewer")
    with pytest.raises(ValueError, match="invalid user name"):
        store.add_user("../etc", PASSWORD, "viewer")
    with pytest.raises(ValueError, match="invalid role"):
        store.add_user("carol", PASSWORD, "root")
    assert store.users() == [User("alice", "admin"), User("bob@example.org", "viewer")]
    assert store.authenticate("alice", PASSWORD) == User("alice", "admin")
    assert store.authenticate("alice", PASSWORD + "2") is None
    assert store.authenticate("nobody", PASSWORD) is None
    assert store.authenticate("nobody", PASSWORD) is None  # the dummy hash path, second time
    store.remove_user("alice")
    assert store.authenticate("alice", PASSWORD) is None
    with pytest.raises(ValueError, match="user alice does not exist"):
        store.remove_user("alice")


def test_database_is_private_and_holds_no_secret_in_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "new" / "users.db"
    store = UserStore(path)
    store.add_user("alice", PASSWORD, "admin")
    token = store.add_token("ci")
    session = store.create_session(User("alice", "admin"), HOUR)
    # Read every file SQLite uses while open (WAL included), then again after closing.
    files = sorted(tmp_path.joinpath("new").iterdir())
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), files
    blobs = [f.read_bytes() for f in files]
    store.close()
    blobs.append(path.read_bytes())
    secrets_ = (PASSWORD, token, token.removeprefix("onsight_"), session.id)
    for blob in blobs:
        for secret in secrets_:
            assert secret.encode() not in blob


def test_tokens_authenticate_until_revoked(store: UserStore) -> None:
    token = store.add_token("grafana")
    admin_token = store.add_token("deploy", role="admin")
    assert token.startswith("onsight_") and len(token) >= 8 + 43
    assert store.user_for_token(token) == User("token:grafana", "viewer")
    assert store.user_for_token(admin_token) == User("token:deploy", "admin")
    assert store.tokens() == [("deploy", "admin"), ("grafana", "viewer")]
    assert store.user_for_token(token + "x") is None
    assert store.user_for_token("") is None
    assert store.user_for_token(token.removeprefix("onsight_")) is None
    with pytest.raises(ValueError, match="token grafana already exists"):
        store.add_token("grafana")
    store.revoke_token("grafana")
    assert store.user_for_token(token) is None
    assert store.user_for_token(admin_token) is not None
    with pytest.raises(ValueError, match="token grafana does not exist"):
        store.revoke_token("grafana")
    (_, _, _, last_used) = store.token_details()[0]
    assert last_used is not None and last_used.endswith("Z")


def test_sessions_expire_and_slide(store: UserStore) -> None:
    store.add_user("alice", PASSWORD, "admin")
    alice = User("alice", "admin")
    session = store.create_session(alice, HOUR, now=T0)
    assert session.expires == T0 + HOUR and session.csrf_token and session.id
    assert store.session("not-a-session", HOUR, now=T0) is None

    # Used after 50 minutes: the expiry moves to 50 + 60 minutes.
    later = store.session(session.id, HOUR, now=T0 + timedelta(minutes=50))
    assert later is not None and later.user == alice
    assert later.expires == T0 + timedelta(minutes=110)
    assert later.csrf_token == session.csrf_token
    # Still alive at 100 minutes, which the original expiry would not allow...
    assert store.session(session.id, HOUR, now=T0 + timedelta(minutes=100)) is not None
    # ...but idle for more than the ttl it is gone, and stays gone.
    assert store.session(session.id, HOUR, now=T0 + timedelta(minutes=161)) is None
    assert store.session(session.id, HOUR, now=T0 + timedelta(minutes=101)) is None


def test_sessions_end_at_their_absolute_lifetime_however_used(store: UserStore) -> None:
    store.add_user("alice", PASSWORD, "admin")
    session = store.create_session(User("alice", "admin"), HOUR, now=T0, lifetime=3 * HOUR)
    assert session.not_after == T0 + 3 * HOUR and not session.renewed
    minute = timedelta(minutes=1)
    used = store.session(session.id, HOUR, now=T0 + 30 * minute)
    assert used is not None and used.renewed and used.expires == T0 + 90 * minute
    again = store.session(session.id, HOUR, now=T0 + 30 * minute + timedelta(seconds=10))
    assert again is not None and not again.renewed  # the cookie is not re-sent every time
    for step in range(60, 180, 30):  # used every half hour: the idle expiry keeps up...
        found = store.session(session.id, HOUR, now=T0 + step * minute)
        assert found is not None and found.expires <= session.not_after
    last = store.session(session.id, HOUR, now=T0 + 179 * minute)
    assert last is not None and last.expires == T0 + 3 * HOUR  # ...up to the absolute end
    assert store.session(session.id, HOUR, now=T0 + 3 * HOUR) is None
    assert store.session(session.id, HOUR, now=T0 + 2 * HOUR) is None  # gone for good


def test_purge_removes_idle_and_over_age_sessions(store: UserStore) -> None:
    store.add_user("alice", PASSWORD, "admin")
    alice = User("alice", "admin")
    store.create_session(alice, HOUR, now=T0)  # idle past T0 + 1 h
    live = store.create_session(alice, 10 * HOUR, now=T0, lifetime=20 * HOUR)
    assert store.purge_expired_sessions(now=T0 + 2 * HOUR) == 1
    assert store.session(live.id, 10 * HOUR, now=T0 + 2 * HOUR) is not None


def test_an_older_users_database_gains_session_lifetimes(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    with sqlite3.connect(path) as old:  # the sessions table before absolute lifetimes
        old.execute("CREATE TABLE sessions (id_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, "
                    "csrf TEXT NOT NULL, expires TEXT NOT NULL)")  # fmt: skip
        key = hashlib.sha256(b"old-session").hexdigest()
        old.execute("INSERT INTO sessions VALUES (?, 'alice', 'c', '2999-01-01T00:00:00Z')", (key,))
    old.close()
    with UserStore(path) as store:
        store.add_user("alice", PASSWORD, "admin")
        assert store.session("old-session", HOUR) is None  # old sessions end: log in again
        session = store.create_session(User("alice", "admin"), HOUR)
        assert store.session(session.id, HOUR) is not None


def test_sessions_end_on_logout_removal_and_role_change(store: UserStore) -> None:
    store.add_user("alice", PASSWORD, "admin")
    store.add_user("bob", PASSWORD, "viewer")
    a1 = store.create_session(User("alice", "admin"), HOUR)
    a2 = store.create_session(User("alice", "admin"), HOUR)
    b1 = store.create_session(User("bob", "viewer"), HOUR)
    store.end_session(a1.id)
    assert store.session(a1.id, HOUR) is None and store.session(a2.id, HOUR) is not None
    store.end_sessions_of("alice")
    assert store.session(a2.id, HOUR) is None
    # The role is read from the users table: a re-created user gets their new role.
    store.remove_user("bob")
    assert store.session(b1.id, HOUR) is None
    store.add_user("bob", PASSWORD, "admin")
    b2 = store.create_session(User("bob", "viewer"), HOUR)
    found = store.session(b2.id, HOUR)
    assert found is not None and found.user.role == "admin"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _attempt(limiter: LoginLimiter, host: str, name: str) -> Attempt:
    attempt = limiter.attempt(host, name)
    assert isinstance(attempt, Attempt), attempt
    return attempt


def test_login_limiter_blocks_an_address_after_n_failures_for_the_rest_of_the_minute() -> None:
    clock = FakeClock()
    limiter = LoginLimiter(3, clock=clock)
    for n in range(3):  # three names: no (address, name) delay gets in the way
        _attempt(limiter, "10.0.0.1", f"user{n}").failed()
        clock.now += 10
    refused = limiter.attempt("10.0.0.1", "alice")
    assert refused == Refused(retry_after=30)  # the first failure leaves the window at +60 s
    assert isinstance(limiter.attempt("10.0.0.2", "alice"), Attempt)  # another address
    clock.now += 30
    _attempt(limiter, "10.0.0.1", "alice").failed()
    assert isinstance(limiter.attempt("10.0.0.1", "user9"), Refused)


def test_a_successful_login_keeps_the_failures_of_its_address() -> None:
    clock = FakeClock()
    limiter = LoginLimiter(3, clock=clock, concurrent=10)
    limiter_failures = [_attempt(limiter, "10.0.0.1", f"victim{n}") for n in range(2)]
    for attempt in limiter_failures:
        attempt.failed()
    _attempt(limiter, "10.0.0.1", "me").succeeded()  # my own valid account
    assert limiter.failures("10.0.0.1") == 2  # only the successful attempt is refunded
    _attempt(limiter, "10.0.0.1", "victim9").failed()
    assert isinstance(limiter.attempt("10.0.0.1", "victim10"), Refused)  # spraying stops


def test_check_and_count_are_atomic_under_concurrency() -> None:
    limiter = LoginLimiter(5, clock=FakeClock(), concurrent=100)
    barrier = threading.Barrier(30)
    results: list[Attempt | Refused] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        barrier.wait()
        result = limiter.attempt("10.0.0.1", f"name{n}")
        with lock:
            results.append(result)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted = [r for r in results if isinstance(r, Attempt)]
    assert len(granted) == 5 and len(results) == 30  # reserved before any check ran


def test_concurrent_password_checks_are_bounded() -> None:
    limiter = LoginLimiter(100, clock=FakeClock(), concurrent=2)
    first, second = _attempt(limiter, "10.0.0.1", "a"), _attempt(limiter, "10.0.0.2", "b")
    busy = limiter.attempt("10.0.0.3", "c")
    assert busy == Refused(retry_after=1, busy=True)
    assert limiter.failures("10.0.0.3") == 0  # a busy refusal counts against nobody
    first.failed()
    first.failed()  # settling twice releases one slot only
    third = _attempt(limiter, "10.0.0.3", "c")
    assert isinstance(limiter.attempt("10.0.0.4", "d"), Refused)
    second.succeeded()
    third.failed()
    _attempt(limiter, "10.0.0.4", "d").failed()


def test_one_name_from_one_address_waits_exponentially_others_are_not_locked_out() -> None:
    clock = FakeClock()
    limiter = LoginLimiter(100, clock=clock)
    for _ in range(PAIR_FREE):
        _attempt(limiter, "10.0.0.1", "alice").failed()
    delays = []
    for _ in range(12):
        refused = limiter.attempt("10.0.0.1", "alice")
        assert isinstance(refused, Refused) and not refused.busy
        delays.append(refused.retry_after)
        clock.now += refused.retry_after
        _attempt(limiter, "10.0.0.1", "alice").failed()
    assert delays[:6] == [1, 2, 4, 8, 16, 32] and delays[-1] == MAX_DELAY
    # The real alice, from her own address, is not locked out; a success clears her delay.
    _attempt(limiter, "10.0.0.2", "alice").succeeded()
    _attempt(limiter, "10.0.0.1", "bob").failed()  # the attacker's address, another name
    assert pair_delay(10_000) == MAX_DELAY  # no overflow however long an attack goes on
    clock.now += MAX_DELAY + PAIR_FORGET
    _attempt(limiter, "10.0.0.1", "alice").succeeded()  # forgotten after an idle hour


def test_ipv6_clients_count_per_64_block() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:10.0.0.1") == "10.0.0.1" and address_key("testclient")
    limiter = LoginLimiter(1, clock=FakeClock())
    _attempt(limiter, "2001:db8:1:2::1", "a").failed()
    assert isinstance(limiter.attempt("2001:db8:1:2::99", "b"), Refused)


def test_login_limiter_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = LoginLimiter(1, clock=clock, max_keys=100)
    for i in range(1000):
        _attempt(limiter, f"10.0.{i // 256}.{i % 256}", "x").failed()
    assert len(limiter._addresses) == 100 and len(limiter._pairs) == 100
    assert isinstance(limiter.attempt("10.0.3.231", "y"), Refused)  # the newest is kept
    assert isinstance(limiter.attempt("10.0.0.0", "y"), Attempt)  # the oldest went


# --- CLI -----------------------------------------------------------------------------------

CONFIG = """\
cameras:
  - name: cam
    url: /tmp/x.mp4
    lines:
      - name: door
        points: [[0.1, 0.5], [0.9, 0.5]]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "onsight.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_cli_users_and_tokens_end_to_end(config: Path) -> None:
    runner = CliRunner()
    add = ["add", "alice", "--config", str(config), "--role", "admin", "--password-stdin"]
    result = runner.invoke(users_app, add, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    again = runner.invoke(users_app, add, input=PASSWORD + "\n")
    assert again.exit_code == 1 and "user alice already exists" in again.output
    short = runner.invoke(
        users_app, ["add", "bob", "-c", str(config), "--password-stdin"], input="tiny\n"
    )
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    assert "Traceback" not in short.output and "tiny" not in short.output
    listed = runner.invoke(users_app, ["list", "--config", str(config)])
    assert listed.exit_code == 0 and "alice" in listed.output and "admin" in listed.output

    made = runner.invoke(tokens_app, ["add", "grafana", "--config", str(config)])
    assert made.exit_code == 0, made.output
    token = next(w for w in made.output.split() if w.startswith("onsight_"))
    assert "cannot be shown again" in made.output

    loaded = load_config(config)
    users_db = loaded.resolve(loaded.config.server.users_db)
    assert users_db == config.parent / "onsight-data" / "users.db"
    with UserStore(users_db) as store:
        assert store.authenticate("alice", PASSWORD) == User("alice", "admin")
        assert store.user_for_token(token) == User("token:grafana", "viewer")
    tokens = runner.invoke(tokens_app, ["list", "--config", str(config)])
    assert "grafana" in tokens.output and token not in tokens.output

    assert runner.invoke(tokens_app, ["revoke", "grafana", "-c", str(config)]).exit_code == 0
    missing = runner.invoke(tokens_app, ["revoke", "grafana", "-c", str(config)])
    assert missing.exit_code == 1 and "token grafana does not exist" in missing.output
    assert runner.invoke(users_app, ["remove", "alice", "-c", str(config)]).exit_code == 0
    with UserStore(users_db) as store:
        assert store.user_for_token(token) is None and not store.has_users()

    with AuditLog(loaded.resolve(loaded.config.privacy.audit_log)) as audit:
        assert audit.verify().ok
        records = audit.tail(100)
    assert [(r.action, r.details()) for r in records] == [
        ("user_add", {"name": "alice", "role": "admin"}),
        ("token_add", {"name": "grafana", "role": "viewer"}),
        ("token_revoke", {"name": "grafana", "role": "viewer"}),
        ("user_remove", {"name": "alice", "role": "admin"}),
    ]
    raw = loaded.resolve(loaded.config.privacy.audit_log).read_bytes()
    assert PASSWORD.encode() not in raw and token.encode() not in raw


def test_cli_changes_a_password_and_ends_the_users_sessions(config: Path) -> None:
    runner = CliRunner()
    add = ["add", "alice", "--config", str(config), "--role", "admin", "--password-stdin"]
    assert runner.invoke(users_app, add, input=PASSWORD + "\n").exit_code == 0
    loaded = load_config(config)
    users_db = loaded.resolve(loaded.config.server.users_db)
    with UserStore(users_db) as store:
        alice = store.authenticate("alice", PASSWORD)
        assert alice is not None
        session = store.create_session(alice, timedelta(hours=1))
    new = "a much better passphrase"
    passwd = ["passwd", "alice", "--config", str(config), "--password-stdin"]
    changed = runner.invoke(users_app, passwd, input=new + "\n")
    assert changed.exit_code == 0, changed.output
    with UserStore(users_db) as store:
        assert store.authenticate("alice", PASSWORD) is None
        assert store.authenticate("alice", new) == User("alice", "admin")
        assert store.session(session.id, timedelta(hours=1)) is None  # logged out everywhere
    short = runner.invoke(users_app, passwd, input="tiny\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    nobody = runner.invoke(users_app, ["passwd", "bob", "-c", str(config), "--password-stdin"])
    assert nobody.exit_code == 1 and "user bob does not exist" in nobody.output
    with AuditLog(loaded.resolve(loaded.config.privacy.audit_log)) as audit:
        actions = [(r.action, r.details()) for r in audit.tail(10)]
    assert ("user_password", {"name": "alice"}) in actions
    raw = loaded.resolve(loaded.config.privacy.audit_log).read_bytes()
    assert new.encode() not in raw


def test_cli_bad_config_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(users_app, ["list", "--config", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and "error:" in result.output
    assert "Traceback" not in result.output


# --- request-level checks behind a real server ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _app(auth: Authenticator, store: UserStore) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(AuthRequired)
    def _auth_required(request: Request, exc: AuthRequired) -> Response:
        if exc.api:
            return JSONResponse(
                {"detail": "authentication required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden) -> Response:
        return JSONResponse({"detail": exc.reason}, status_code=403)

    @app.post("/login")
    def login(
        username: Annotated[str, Form()], password: Annotated[str, Form()], request: Request
    ) -> Response:
        user = store.authenticate(username, password)
        if user is None:
            return JSONResponse({"detail": "wrong"}, status_code=401)
        response = JSONResponse({"csrf": "see session"})
        session = store.create_session(user, auth.session_ttl)
        set_session_cookie(response, session, secure=request.url.scheme == "https")
        response.headers["X-Test-Csrf"] = session.csrf_token  # the test reads it from here
        return response

    @app.get("/page")
    def page(user: Annotated[User, Depends(auth.user)]) -> dict[str, str]:
        return {"name": user.name, "role": user.role}

    @app.get("/api/thing")
    def thing(user: Annotated[User, Depends(auth.user)]) -> dict[str, str]:
        return {"name": user.name}

    @app.post("/editor", dependencies=[Depends(auth.check_csrf)])
    def editor(user: Annotated[User, Depends(auth.admin)]) -> dict[str, str]:
        return {"saved_by": user.name}

    return app


@pytest.fixture
def server(store: UserStore) -> Iterator[str]:
    auth = Authenticator(store, HOUR)
    port = _free_port()
    config = uvicorn.Config(_app(auth, store), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(500):
        if srv.started:
            break
        threading.Event().wait(0.01)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_authenticator_behind_a_real_server(server: str, store: UserStore) -> None:
    store.add_user("admin1", PASSWORD, "admin")
    store.add_user("viewer1", PASSWORD, "viewer")
    viewer_token = store.add_token("grafana")
    admin_token = store.add_token("deploy", role="admin")
    with httpx.Client(base_url=server, follow_redirects=False) as anon:
        page = anon.get("/page")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/page"
        api = anon.get("/api/thing")
        assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
        assert api.json() == {"detail": "authentication required"}
        bad = anon.get("/page", headers={"Authorization": "Bearer onsight_nope"})
        assert bad.status_code == 401  # an Authorization header means a machine: no redirect
        # A reverse proxy's own Basic login is not ours to judge: a browser behind it is sent
        # to the login page like any other.
        basic = anon.get("/page", headers={"Authorization": "Basic YWRtaW4xOnBhc3M="})
        assert basic.status_code == 303
    with httpx.Client(base_url=server, cookies={SESSION_COOKIE: "forged"}) as forger:
        assert forger.get("/page", follow_redirects=False).status_code == 303

    bearer = {"Authorization": f"Bearer {viewer_token}"}
    with httpx.Client(base_url=server) as machine:
        assert machine.get("/api/thing", headers=bearer).json() == {"name": "token:grafana"}
        # Bearer requests need no CSRF token, but a viewer token is still not an admin.
        assert machine.post("/editor", headers=bearer).status_code == 403
        admin = {"Authorization": f"Bearer {admin_token}"}
        assert machine.post("/editor", headers=admin).json() == {"saved_by": "token:deploy"}

    with httpx.Client(base_url=server) as browser:
        login = browser.post("/login", data={"username": "admin1", "password": PASSWORD})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"].lower()
        assert f"{SESSION_COOKIE}=" in cookie
        assert all(flag in cookie for flag in ("httponly", "samesite=strict", "path=/"))
        assert "max-age=3599" in cookie or "max-age=3600" in cookie
        assert "secure" not in cookie  # plain HTTP here; Secure is set when on TLS
        csrf = login.headers["x-test-csrf"]
        assert browser.get("/page").json() == {"name": "admin1", "role": "admin"}
        proxied = browser.get("/page", headers={"Authorization": "Basic cHJveHk6cHJveHk="})
        assert proxied.json() == {"name": "admin1", "role": "admin"}  # the cookie counts
        basic = {"Authorization": "Basic cHJveHk6cHJveHk="}
        assert browser.post("/editor", data={CSRF_FIELD: csrf}, headers=basic).status_code == 200
        assert browser.post("/editor").status_code == 403
        assert browser.post("/editor", data={CSRF_FIELD: "wrong"}).status_code == 403
        saved = browser.post("/editor", data={CSRF_FIELD: csrf})
        assert saved.json() == {"saved_by": "admin1"}

    with httpx.Client(base_url=server) as viewer:
        login = viewer.post("/login", data={"username": "viewer1", "password": PASSWORD})
        csrf = login.headers["x-test-csrf"]
        assert viewer.get("/page").json() == {"name": "viewer1", "role": "viewer"}
        assert viewer.post("/editor", data={CSRF_FIELD: csrf}).status_code == 403
        store.end_sessions_of("viewer1")
        assert viewer.get("/api/thing").status_code == 401


def test_server_config_checks_names_and_session_times() -> None:
    server = ServerConfig()
    assert (server.session_hours, server.session_max_hours, server.server_names) == (8, 168, [])
    assert ServerConfig(server_names=["onsight.lan", "10.0.0.5"]).server_names[0] == "onsight.lan"
    with pytest.raises(ValidationError, match="not a host name"):
        ServerConfig(server_names=["evil.example/x"])
    with pytest.raises(ValidationError, match=r"must not exceed server\.session_max_hours"):
        ServerConfig(session_hours=48, session_max_hours=24)


def test_safe_next_only_allows_local_paths() -> None:
    assert safe_next("/cameras/cam?day=1") == "/cameras/cam?day=1"
    for bad in (None, "", "https://evil.example", "//evil.example", "/\\evil.example", "x"):
        assert safe_next(bad) == "/"
    assert safe_next("/a\r\nSet-Cookie: x") == "/"


def test_users_db_respects_umask_free_mode(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = UserStore(tmp_path / "u.db")
        store.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "u.db").stat().st_mode) == 0o600
