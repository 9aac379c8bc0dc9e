"""A snapshot camera: JPEGs polled from a local HTTP server with digest auth (RFC 7616, MD5),
through the real pipeline, across a restart of the server on the same port."""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import cv2
import pytest

from onsight.config.models import CameraConfig
from onsight.detect import make_detector
from onsight.events import EventBus
from onsight.ingest.backoff import BackoffPolicy
from onsight.ingest.stills import StillSource
from onsight.runtime import CameraPipeline, FrameResult
from tests.conftest import assets_dir, require

USER = "viewer"
PASSWORD = "s3cr%t-Digest!"  # percent-encoded in the URL as s3cr%25t-Digest%21
URL_PASSWORD = "s3cr%25t-Digest%21"
REALM = "onsight-test"
PATH = "/cgi-bin/snapshot.cgi"
FAST = BackoffPolicy(initial=0.2, factor=2.0, cap=0.5)
DEADLINE = 30.0  # seconds a condition may take before the test fails (not a speed assert)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclass
class _Camera:
    """What the fake camera serves, shared across server restarts."""

    jpegs: list[bytes]
    broken_at: set[int] = field(default_factory=set)  # request numbers answered with junk
    served: int = 0
    unauthorised: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(camera: _Camera, nonces: set[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            if self.path == "/page":
                self._send(200, "text/html", b"<html>camera login</html>")
                return
            if self.path != PATH:
                self._send(404, "text/plain", b"not found")
                return
            if not self._authorised():
                with camera.lock:
                    camera.unauthorised += 1
                nonce = secrets.token_hex(16)
                nonces.add(nonce)
                self.send_response(401)
                self.send_header(
                    "WWW-Authenticate",
                    f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{nonce}", '
                    f'opaque="{secrets.token_hex(8)}"',
                )
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with camera.lock:
                number = camera.served
                camera.served += 1
            if number in camera.broken_at:
                body = b"\xff\xd8\xff\xe0 not really a jpeg"
            else:
                body = camera.jpegs[number % len(camera.jpegs)]
            self._send(200, "image/jpeg", body)

        def _authorised(self) -> bool:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Digest "):
                return False
            fields = {
                m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
                for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:])
            }
            if fields.get("nonce") not in nonces or fields.get("username") != USER:
                return False
            ha1 = _md5(f"{USER}:{REALM}:{PASSWORD}")
            ha2 = _md5(f"GET:{fields.get('uri')}")
            expected = _md5(
                f"{ha1}:{fields['nonce']}:{fields.get('nc')}:{fields.get('cnonce')}:"
                f"{fields.get('qop')}:{ha2}"
            )
            return fields.get("qop") == "auth" and secrets.compare_digest(
                expected, fields.get("response", "")
            )

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _Server:
    """The fake camera's HTTP server; `stop` and `start` again keep the port. Each start
    issues new nonces, as a rebooted camera does."""

    def __init__(self, camera: _Camera) -> None:
        self.camera = camera
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self.camera, set()))
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)

    def url(self, password: str = URL_PASSWORD, path: str = PATH) -> str:
        return f"http://{USER}:{password}@127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def jpegs() -> list[bytes]:
    gif = require(assets_dir() / "video" / "face-demographics-walking.gif", "walking clip")
    with av.open(str(gif)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    encoded = []
    for image in frames[::5]:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        encoded.append(data.tobytes())
    return encoded


@pytest.fixture
def server(jpegs: list[bytes]) -> Iterator[_Server]:
    fake = _Server(_Camera(jpegs))
    fake.start()
    yield fake
    fake.stop()


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def test_snapshots_flow_through_the_pipeline_and_survive_a_camera_restart(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.camera.broken_at = {2}  # one damaged snapshot: counted and skipped
    camera = CameraConfig.model_validate(
        {
            "name": "snap",
            "url": server.url(),
            "snapshot": True,
            "fps": 5,
            "zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        }
    )
    pipeline = CameraPipeline(camera, make_detector(), EventBus([]), backoff=FAST)
    assert isinstance(pipeline.source, StillSource) and pipeline.source.is_live
    assert pipeline.stills, "a snapshot camera is analysed as stills"
    results: list[FrameResult] = []
    caplog.set_level(logging.DEBUG, logger="onsight")
    worker = threading.Thread(target=pipeline.run, args=(results.append,), daemon=True)
    worker.start()
    try:
        _wait(lambda: len(results) >= 4, "the first snapshots")
        assert pipeline.source.stats.decode_errors == 1
        assert pipeline.health().connected and pipeline.health().state == "live"
        # digest: one challenge, then the nonce is reused for every following snapshot
        assert server.camera.unauthorised == 1

        server.stop()
        before = len(results)
        _wait(lambda: not pipeline.source.stats.connected, "the outage to be noticed")
        _wait(lambda: pipeline.source.stats.last_error is not None, "a failed poll")
        time.sleep(1.0)  # several failed polls with backoff
        assert pipeline.health().state == "reconnecting"
        assert "cannot fetch a snapshot" in (pipeline.health().reason or "")
        outage = len(results)
        assert outage - before <= 1  # at most a snapshot in flight when it stopped

        server.start()  # same port, new nonces: the stale one is refused and re-answered
        _wait(lambda: len(results) >= outage + 4, "snapshots after the restart")
        assert pipeline.source.stats.reconnects == 1
        assert pipeline.health().connected
    finally:
        pipeline.stop.set()
        worker.join(DEADLINE)
    assert not worker.is_alive()
    assert not pipeline.finished, "a snapshot camera never ends by itself"
    pts = [r.frame.pts for r in results]
    assert pts[0] == 0.0 and all(b > a for a, b in itertools.pairwise(pts))
    assert server.camera.unauthorised >= 2, "the restarted camera challenged again"

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert f"http://***:***@127.0.0.1:{server.port}{PATH}" in message
    for text in _texts(caplog):
        assert PASSWORD not in text and URL_PASSWORD not in text and "Digest%21" not in text
    # every still is its own observation: ids never repeat across frames
    ids = [int(i) for r in results for i in r.tracks.track_id]
    assert ids and len(ids) == len(set(ids))


def test_a_wrong_password_is_one_clear_warning_without_the_password(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "n0t-the-Pa55word"
    stop = threading.Event()
    source = StillSource("gate", server.url(password=wrong), 10.0, backoff=FAST, stop=stop)
    caplog.set_level(logging.DEBUG, logger="onsight")
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.extend(source.frames()), daemon=True)
    reader.start()
    try:
        _wait(lambda: server.camera.unauthorised >= 6, "several refused attempts")
    finally:
        stop.set()
        reader.join(DEADLINE)
    assert not got and not source.stats.connected
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "camera 'gate'" in warnings[0]
    assert "authorization failed, check the user name and password" in warnings[0]
    assert f"http://***:***@127.0.0.1:{server.port}{PATH}" in warnings[0]
    for text in [*_texts(caplog), source.stats.last_error or ""]:
        assert wrong not in text


def test_a_page_that_is_not_an_image_is_refused_with_its_content_type(server: _Server) -> None:
    stop = threading.Event()
    source = StillSource("gate", server.url(path="/page"), 10.0, backoff=FAST, stop=stop)
    reader = threading.Thread(target=lambda: list(source.frames()), daemon=True)
    reader.start()
    try:
        _wait(lambda: source.stats.last_error is not None, "the refusal")
    finally:
        stop.set()
        reader.join(DEADLINE)
    assert source.stats.last_error == (
        "cannot fetch a snapshot: not an image (Content-Type text/html)"
    )
