"""Webhook delivery against a real HTTP server: signatures, subscriptions, retries, dead letters."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from onsight.config.service import EventKind, WebhookConfig
from onsight.events.bus import EventBus
from onsight.events.signing import verify_signature
from onsight.events.webhook import WebhookSink
from onsight.types import LineCrossing, ZoneMinute

SECRET = "s3cret-for-tests-0123456789"
NOW = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.body)
        return loaded


@dataclass
class Receiver:
    """Records every request; per path, answers from a script (then 200) or hangs."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    hanging: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def answer(self, path: str) -> tuple[int, dict[str, str]]:
        with self.lock:
            script = self.scripts.get(path, [])
            return script.pop(0) if script else (200, {})


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            if self.path in receiver.hanging:
                receiver.release.wait(30)
            status, headers = receiver.answer(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def sinks() -> Iterator[list[WebhookSink]]:
    opened: list[WebhookSink] = []
    yield opened
    for sink in opened:
        sink.close(timeout=5)


def hook(
    name: str,
    url: str,
    events: list[EventKind],
    max_attempts: int = 5,
    timeout_seconds: float = 5.0,
) -> WebhookConfig:
    return WebhookConfig(
        name=name,
        url=url,
        events=events,
        secret=SECRET,
        timeout_seconds=timeout_seconds,
        max_attempts=max_attempts,
    )


def fast_sink(hooks: list[WebhookConfig], db: Path) -> WebhookSink:
    """A sink whose retries come after tens of milliseconds, not seconds."""
    return WebhookSink(hooks, "hq", db, backoff_base=0.01, backoff_cap=0.05)


def crossing(line: str = "door") -> LineCrossing:
    return LineCrossing(NOW, "front", line, "in", "person")


def minute() -> ZoneMinute:
    return ZoneMinute(NOW, "front", "till", "person", 1.5, 3, 60)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_signed_request_verifies_only_with_the_secret(
    receiver: Receiver, sinks: list[WebhookSink], tmp_path: Path
) -> None:
    sink = WebhookSink([hook("a", receiver.url("/a"), ["crossing"])], "hq", tmp_path / "w.db")
    sinks.append(sink)
    sink.write([crossing()])
    wait_until(lambda: len(receiver.on("/a")) == 1, "the delivery")
    request = receiver.on("/a")[0]
    stamp = request.headers["x-onsight-timestamp"]
    signature = request.headers["x-onsight-signature"]

    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-onsight-event"] == "crossing"
    body = request.json
    assert body["id"] == request.headers["x-onsight-id"]
    assert {k: body[k] for k in ("site", "camera", "app", "name", "kind", "direction")} == {
        "site": "hq",
        "camera": "front",
        "app": "line",
        "name": "door",
        "kind": "crossing",
        "direction": "in",
    }
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, stamp, request.body, signature)
    assert not verify_signature("wrong-secret-0123456789", stamp, request.body, signature)
    assert not verify_signature(SECRET, stamp, request.body + b" ", signature)
    replayed_at = int(stamp) + 301
    assert not verify_signature(SECRET, stamp, request.body, signature, now=replayed_at)


def test_hook_gets_only_its_event_kinds(
    receiver: Receiver, sinks: list[WebhookSink], tmp_path: Path
) -> None:
    hooks = [
        hook("lines", receiver.url("/lines"), ["crossing"]),
        hook("all", receiver.url("/all"), ["crossing", "zone_minute"]),
    ]
    sink = WebhookSink(hooks, "hq", tmp_path / "w.db")
    sinks.append(sink)
    bus = EventBus([sink])
    bus.publish([minute(), crossing(), minute()])
    bus.close()
    wait_until(lambda: sink.delivered == 4, "four deliveries")

    assert sink.pending == 0
    assert [r.headers["x-onsight-event"] for r in receiver.on("/lines")] == ["crossing"]
    kinds = [r.json["kind"] for r in receiver.on("/all")]
    assert kinds == ["zone_minute", "crossing", "zone_minute"]  # per-hook order is kept


@pytest.mark.parametrize(
    "failures",
    # a Retry-After beyond the backoff cap (here 0.05 s) is cut to the cap
    [[(500, {}), (503, {}), (502, {})], [(429, {"Retry-After": "3600"}), (408, {})]],
    ids=["5xx", "429-408"],
)
def test_retries_until_accepted_with_a_stable_event_id(
    failures: list[tuple[int, dict[str, str]]],
    receiver: Receiver,
    sinks: list[WebhookSink],
    tmp_path: Path,
) -> None:
    receiver.scripts["/a"] = list(failures)
    sink = fast_sink([hook("a", receiver.url("/a"), ["crossing"])], tmp_path / "w.db")
    sinks.append(sink)
    sink.write([crossing()])
    wait_until(lambda: sink.delivered == 1, "the delivery")

    tries = receiver.on("/a")
    assert len(tries) == len(failures) + 1
    assert len({r.headers["x-onsight-id"] for r in tries}) == 1
    assert all(
        verify_signature(
            SECRET, r.headers["x-onsight-timestamp"], r.body, r.headers["x-onsight-signature"]
        )
        for r in tries
    )
    assert (sink.pending, sink.dead_letters) == (0, 0)


def test_gone_is_a_permanent_failure(
    receiver: Receiver, sinks: list[WebhookSink], tmp_path: Path
) -> None:
    receiver.scripts["/a"] = [(410, {})]
    sink = fast_sink([hook("a", receiver.url("/a"), ["crossing"])], tmp_path / "w.db")
    sinks.append(sink)
    sink.write([crossing()])
    wait_until(lambda: sink.dead_letters == 1, "the dead letter")

    assert len(receiver.on("/a")) == 1
    (row,) = sink.dead_letter_rows(10)
    assert row["hook"] == "a"
    assert row["kind"] == "crossing"
    assert row["attempts"] == 1
    assert row["last_error"] == "HTTP 410"
    assert row["event_id"] == receiver.on("/a")[0].headers["x-onsight-id"]
    assert row["body"]["name"] == "door"
    assert row["first_attempt"].endswith("Z") and row["last_attempt"].endswith("Z")
    assert (sink.pending, sink.delivered) == (0, 0)


def test_redirect_is_not_followed(
    receiver: Receiver, sinks: list[WebhookSink], tmp_path: Path
) -> None:
    receiver.scripts["/a"] = [(302, {"Location": receiver.url("/elsewhere")})]
    sink = fast_sink([hook("a", receiver.url("/a"), ["crossing"])], tmp_path / "w.db")
    sinks.append(sink)
    sink.write([crossing()])
    wait_until(lambda: sink.dead_letters == 1, "the dead letter")

    assert receiver.on("/elsewhere") == []
    assert sink.dead_letter_rows(1)[0]["last_error"] == "HTTP 302 (redirects are not followed)"


def test_unreachable_hook_is_dead_lettered_after_max_attempts(
    sinks: list[WebhookSink], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="onsight.events.webhook")
    url = f"http://robot:pa55word@127.0.0.1:{free_port()}/hook"  # nothing listens there
    sink = fast_sink([hook("down", url, ["crossing"], max_attempts=3)], tmp_path / "w.db")
    sinks.append(sink)
    sink.write([crossing()])
    wait_until(lambda: sink.dead_letters == 1, "the dead letter")

    (row,) = sink.dead_letter_rows(10)
    assert row["attempts"] == 3
    assert row["last_error"]
    text = json.dumps(row)
    assert "pa55word" not in text and SECRET not in text and "robot" not in text
    logged = caplog.text
    assert "dead letters after 3 tries" in logged
    assert "pa55word" not in logged and SECRET not in logged and '"camera"' not in logged
    assert sink.pending == 0


def test_pending_deliveries_survive_a_restart(
    receiver: Receiver, sinks: list[WebhookSink], tmp_path: Path
) -> None:
    db = tmp_path / "w.db"
    hooks = [hook("a", receiver.url("/a"), ["crossing", "zone_minute"])]
    receiver.scripts["/a"] = [(503, {})]
    first = WebhookSink(hooks, "hq", db, backoff_base=600.0, backoff_cap=600.0)
    first.write([crossing(), minute()])
    wait_until(lambda: len(receiver.on("/a")) == 1, "the first try")
    first.close(timeout=5)
    assert first.pending == 2 and first.delivered == 0
    first_id = receiver.on("/a")[0].headers["x-onsight-id"]

    second = fast_sink(hooks, db)  # the server now accepts
    sinks.append(second)
    assert second.pending == 2
    wait_until(lambda: second.delivered == 2, "the resumed deliveries")

    tries = receiver.on("/a")
    assert [r.headers["x-onsight-id"] for r in tries[:2]] == [first_id, first_id]
    assert [r.json["kind"] for r in tries[1:]] == ["crossing", "zone_minute"]
    assert (second.pending, second.dead_letters) == (0, 0)


def test_hanging_hook_does_not_block_another(
    receiver: Receiver, sinks: list[WebhookSink], tmp_path: Path
) -> None:
    receiver.hanging.add("/slow")
    hooks = [
        hook("slow", receiver.url("/slow"), ["crossing"], timeout_seconds=60.0),
        hook("fast", receiver.url("/fast"), ["crossing"]),
    ]
    sink = fast_sink(hooks, tmp_path / "w.db")
    sinks.append(sink)
    sink.write([crossing("a"), crossing("b"), crossing("c")])
    # the slow hook holds its first request for up to 30 s, far past this wait
    wait_until(lambda: sink.delivered == 3, "the fast hook", timeout=10.0)
    wait_until(lambda: len(receiver.on("/slow")) == 1, "the slow hook's first request")

    assert len(receiver.on("/fast")) == 3
    assert sink.pending == 3
    receiver.release.set()
    wait_until(lambda: sink.delivered == 6, "the slow hook after release")
