"""An https snapshot camera with a self-signed certificate: refused with a clear reason until
the camera's `ca_file` names it, then polled (digest auth over TLS); hostname checking stays
on; `ca_file` is validated when the config loads.

The certificates are made by the `openssl` command line tool (in every Debian install).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from onsight.cli import app
from onsight.config import load_config
from onsight.errors import ConfigError, SourceError
from onsight.ingest.backoff import BackoffPolicy
from onsight.ingest.probe import probe
from onsight.ingest.stills import StillSource, open_source
from onsight.types import Frame
from tests.integration.test_snapshot_source import (
    PASSWORD,
    PATH,
    URL_PASSWORD,
    USER,
    _Camera,
    _handler,
)

FAST = BackoffPolicy(initial=0.2, factor=2.0, cap=0.5)
DEADLINE = 30.0  # seconds a condition may take before the test fails (not a speed assert)


def _certificate(folder: Path, name: str, san: str) -> tuple[Path, Path]:
    """A self-signed certificate (PEM) and its key for the subjectAltName `san`."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command line tool is needed to make certificates"
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}"],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def _jpegs() -> list[bytes]:
    """A few small synthetic JPEGs: a grey picture with a moving bright square."""
    encoded = []
    for step in range(3):
        image = np.full((120, 160, 3), 90, np.uint8)
        image[30:70, 20 + 30 * step : 60 + 30 * step] = (40, 200, 240)
        ok, data = cv2.imencode(".jpg", image)
        assert ok
        encoded.append(data.tobytes())
    return encoded


class _TlsServer:
    """The fake snapshot camera of test_snapshot_source (digest auth), served over https."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.camera = _Camera(_jpegs())
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.camera, set()))
        self._httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"https://{USER}:{URL_PASSWORD}@{host}:{self.port}{PATH}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    folder = tmp_path / "certs"
    folder.mkdir()
    _certificate(folder, "camera", "DNS:localhost,IP:127.0.0.1")
    _certificate(folder, "elsewhere", "DNS:camera.example")  # names another host
    return folder


@pytest.fixture
def server(certs: Path) -> Iterator[_TlsServer]:
    camera = _TlsServer(certs / "camera.pem", certs / "camera.key")
    yield camera
    camera.close()


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _read(source: StillSource, until: Callable[[list[Frame]], bool], what: str) -> list[Frame]:
    """Frames from `source` in a thread until `until(frames)` holds; then stop it."""
    frames: list[Frame] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            for frame in source.frames():
                frames.append(frame)
        except BaseException as exc:  # a crash must fail the test, not vanish in the thread
            failures.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        _wait(lambda: until(frames) or bool(failures), what)
    finally:
        source.stop_event.set()
        reader.join(DEADLINE)
    assert not reader.is_alive()
    assert failures == []
    return frames


def _write_config(folder: Path, camera: str) -> Path:
    config = folder / "site.yaml"
    config.write_text(f"cameras:\n{camera}", encoding="utf-8")
    return config


def test_a_self_signed_camera_is_refused_with_a_clear_reason_without_ca_file(
    server: _TlsServer,
) -> None:
    stop = threading.Event()
    source = open_source("gate", server.url(), 10.0, snapshot=True, backoff=FAST, stop=stop)
    assert isinstance(source, StillSource)
    frames = _read(source, lambda _: source.stats.last_error is not None, "the refusal")
    stats = source.stats
    assert frames == [] and not stats.connected and stats.frames_decoded == 0
    assert stats.last_error is not None
    assert stats.last_error.startswith("cannot fetch a snapshot: TLS certificate not trusted (")
    assert "self-signed certificate" in stats.last_error
    assert "set `ca_file:`" in stats.last_error
    assert PASSWORD not in stats.last_error and URL_PASSWORD not in stats.last_error
    assert server.camera.served == 0 and server.camera.unauthorised == 0

    found = probe("gate", server.url(), 5.0, 640, timeout=5.0, snapshot=True)  # the form's test
    assert found.frame is None and "TLS certificate not trusted" in found.reason


def test_with_ca_file_relative_to_the_config_snapshots_arrive_over_https(
    server: _TlsServer, certs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _write_config(
        tmp_path,
        f"  - name: gate\n    url: https://{USER}:${{GATE_PASS}}@localhost:{server.port}{PATH}\n"
        "    snapshot: true\n    fps: 10\n    ca_file: certs/camera.pem\n",
    )
    monkeypatch.chdir(certs)  # the path is relative to the config file, not to where we run
    loaded = load_config(config, {"GATE_PASS": PASSWORD})
    camera = loaded.with_paths(loaded.config.cameras[0])
    assert camera.ca_file == str(certs / "camera.pem")
    stop = threading.Event()
    source = open_source(
        camera.name, camera.url, camera.fps, snapshot=True, ca_file=camera.ca_file,
        backoff=FAST, stop=stop,
    )  # fmt: skip
    assert isinstance(source, StillSource)
    frames = _read(source, lambda got: len(got) >= 3, "three snapshots over https")
    assert [f.image.shape for f in frames[:3]] == [(120, 160, 3)] * 3
    assert source.stats.last_error is None and source.stats.frames_decoded >= 3
    assert server.camera.unauthorised == 1  # digest over TLS: one challenge, then reused

    found = probe("gate", server.url(), 5.0, 640, timeout=10.0, snapshot=True,
                  ca_file=str(certs / "camera.pem"))  # fmt: skip
    assert found.frame is not None, found.reason


def test_hostname_checking_stays_on_with_ca_file(certs: Path) -> None:
    # The camera's certificate names camera.example: trusted as such, it still does not
    # vouch for 127.0.0.1, the address the URL names.
    other = _TlsServer(certs / "elsewhere.pem", certs / "elsewhere.key")
    try:
        stop = threading.Event()
        source = StillSource(
            "gate", other.url(), 10.0, kind="snapshot", ca_file=str(certs / "elsewhere.pem"),
            backoff=FAST, stop=stop,
        )  # fmt: skip
        _read(source, lambda _: source.stats.last_error is not None, "the refusal")
        error = source.stats.last_error or ""
        assert error.startswith("cannot fetch a snapshot: TLS certificate not trusted (")
        assert "mismatch" in error.lower() and "127.0.0.1" in error
        assert error.endswith("use the host name or address the certificate names in the URL")
        assert other.camera.served == 0 and other.camera.unauthorised == 0
    finally:
        other.close()


def test_a_ca_file_that_vanished_after_loading_ends_the_source_with_a_clear_error(
    server: _TlsServer, tmp_path: Path
) -> None:
    source = StillSource(
        "gate", server.url(), 10.0, kind="snapshot", ca_file=str(tmp_path / "gone.pem")
    )
    with pytest.raises(SourceError, match=r"camera 'gate': ca_file .*gone\.pem: cannot use it"):
        list(source.frames())


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        (
            "  - name: door\n    url: rtsp://cam/stream\n    ca_file: camera.pem\n",
            r"site\.yaml:2: cameras\[0\]: ca_file is only for https snapshot URLs: it needs "
            r"snapshot: true",
        ),
        (
            "  - name: door\n    url: https://cam/snap.cgi\n    ca_file: camera.pem\n",
            r"cameras\[0\]: ca_file is only for https snapshot URLs",
        ),
        (
            "  - name: door\n    url: http://u:pw@cam/snap.cgi\n    snapshot: true\n"
            "    ca_file: camera.pem\n",
            r"cameras\[0\]: ca_file needs an https:// url, not http://\*\*\*:\*\*\*@cam/snap\.cgi",
        ),
        (
            "  - name: door\n    url: https://cam/snap.cgi\n    snapshot: true\n"
            "    ca_file: missing.pem\n",
            r"site\.yaml:5: cameras\[0\]\.ca_file: no such file .*/missing\.pem$",
        ),
        (
            "  - name: door\n    url: https://cam/snap.cgi\n    snapshot: true\n"
            "    ca_file: notes.txt\n",
            r"cameras\[0\]\.ca_file: .*/notes\.txt holds no usable PEM certificate \(",
        ),
        (
            "  - name: door\n    url: https://cam/snap.cgi\n    snapshot: true\n    ca_file: .\n",
            r"cameras\[0\]\.ca_file: .* is a folder, not a PEM certificate file",
        ),
    ],
    ids=["no-snapshot-rtsp", "no-snapshot-https", "http-url", "missing", "not-pem", "folder"],
)
def test_ca_file_is_validated_when_the_config_loads(
    tmp_path: Path, certs: Path, camera: str, message: str
) -> None:
    shutil.copy(certs / "camera.pem", tmp_path / "camera.pem")
    (tmp_path / "notes.txt").write_text("not a certificate\n", encoding="utf-8")
    config = _write_config(tmp_path, camera)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(config, {})
    assert "\n" not in str(raised.value)
    assert "BEGIN CERTIFICATE" not in str(raised.value)


def test_onsight_check_names_a_missing_ca_file_in_one_line(tmp_path: Path) -> None:
    config = _write_config(
        tmp_path,
        "  - name: door\n    url: https://cam/snap.cgi\n    snapshot: true\n"
        "    ca_file: certs/door.pem\n",
    )
    result = CliRunner().invoke(app, ["check", str(config)])
    assert result.exit_code == 1
    output = result.output.strip()
    assert output.startswith("error: ") and "\n" not in output
    assert "cameras[0].ca_file: no such file" in output
    assert str(tmp_path / "certs" / "door.pem") in output
    assert "Traceback" not in output
