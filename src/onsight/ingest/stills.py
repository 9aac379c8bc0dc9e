"""`StillSource`: an image file, a folder of images, or an HTTP(S) snapshot URL as frames.

It has `VideoSource`'s interface (`frames()`, `stats`, `stuck_seconds`, `is_live`, `url`,
`redact`), so the pipeline, the runner and the probes use either alike; `open_source`
chooses one for a camera URL.

* An image file (jpg, jpeg, png, bmp, webp, tif, tiff) gives one frame at pts 0.
* A directory gives its image files in name order, the i-th at pts ``i / fps``
  (timestamps, not the wall clock: a folder is analysed as fast as the machine allows),
  then the source ends like a file does. Hidden files and files with other extensions are
  ignored; an image that cannot be decoded is skipped and counted in
  `SourceStats.decode_errors`. A directory without images, or whose images all fail to
  decode, raises `SourceError`.
* A snapshot URL (``snapshot: true`` in the camera's config) is fetched with httpx every
  ``1 / fps`` seconds. Credentials come from the URL's user-info and are sent as basic or
  digest auth, whichever the server's ``WWW-Authenticate`` challenge asks for. A failed
  fetch (no answer, HTTP error, wrong password, a response that is not an image) marks the
  source disconnected, logs one warning per outage with the URL redacted (later failures
  of the outage at info or debug level) and retries per the backoff policy, like
  a live stream; it never ends the source. A snapshot that does not decode is counted and
  skipped. ``Frame.pts`` is then the real time since the first snapshot. An https URL is
  verified against the system's CAs or, with `ca_file` (the camera's ``ca_file:``), only
  against the PEM certificate(s) in that file (a self-signed camera certificate); the host
  name is always checked. A certificate that is not trusted is a failed fetch like any other,
  with the reason in `SourceStats.last_error`.

Images are decoded with ``cv2.imdecode`` (to 8-bit BGR) and downscaled to ``width``.
"""

from __future__ import annotations

import logging
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

import cv2
import httpx
import numpy as np

from onsight.errors import SourceError
from onsight.ingest.backoff import Backoff, BackoffPolicy
from onsight.ingest.sampler import FrameSampler
from onsight.ingest.source import SourceStats, VideoSource
from onsight.ingest.urls import classify, redact_text, redact_url, url_secrets, userinfo_span
from onsight.types import Frame, Image

if TYPE_CHECKING:
    from onsight.ingest.worker import ProcessSource
    from onsight.motion import GateSettings

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# A snapshot larger than this is not a snapshot (an endless stream, a misconfigured URL).
_MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
_MAX_PIXELS = 8192 * 8192
# OpenCV's own decode limit (default 2**30 pixels, about 3 GB): a small hostile PNG must not
# make it allocate that much before `_decode` can refuse the size.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(_MAX_PIXELS))

StillKind = Literal["image", "directory", "snapshot"]


def still_kind(url: str, snapshot: bool = False) -> StillKind | None:
    """What kind of still source `url` is, or None for a video source.

    A plain path (or ``file://``) with an image extension is an image file, an existing
    directory is a folder of images; an http(s) URL is a snapshot URL when `snapshot`.
    """
    kind = classify(url)
    if kind == "http":
        return "snapshot" if snapshot else None
    if kind != "file":
        return None
    path = _path(url)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return "image"
    if path.is_dir():
        return "directory"
    return None


def describe_still(url: str, snapshot: bool = False) -> str | None:
    """A few words on a still source for `onsight check` (None for video); raises
    `SourceError` when a file or folder source has nothing to read."""
    kind = still_kind(url, snapshot)
    if kind == "snapshot":
        return "snapshot URL, polled"
    if kind == "image":
        if not _path(url).is_file():
            raise SourceError(f"no such image file {redact_url(url)}")
        return "one image"
    if kind == "directory":
        return f"folder of {len(_images(url))} images, in name order"
    return None


def open_source(
    camera: str,
    url: str,
    fps: float,
    *,
    snapshot: bool = False,
    ca_file: str | None = None,
    width: int | None = None,
    open_timeout: float = 10.0,
    watchdog_seconds: float = 10.0,
    backoff: BackoffPolicy | None = None,
    stop: threading.Event | None = None,
    isolate: bool = False,
    on_restart: Callable[[str, str], None] | None = None,
    motion: GateSettings | None = None,
) -> VideoSource | StillSource | ProcessSource:
    """The source for a camera URL: a `StillSource` for images and snapshots, else video
    (`ca_file`: the PEM file trusted for an https snapshot URL; see `StillSource`); with
    `isolate`, video is decoded in a supervised worker process (`ProcessSource`, which
    reports each restart to `on_restart(camera, reason)`, and runs the motion gate with
    `motion` if given)."""
    kind = still_kind(url, snapshot)
    if kind is None:
        video: Callable[..., VideoSource | ProcessSource] = VideoSource
        if isolate:
            from onsight.ingest.worker import ProcessSource

            video = partial(ProcessSource, on_restart=on_restart, motion=motion)
        return video(
            camera,
            url,
            fps,
            width=width,
            open_timeout=open_timeout,
            watchdog_seconds=watchdog_seconds,
            backoff=backoff,
            stop=stop,
        )
    return StillSource(
        camera,
        url,
        fps,
        kind=kind,
        ca_file=ca_file,
        width=width,
        open_timeout=open_timeout,
        watchdog_seconds=watchdog_seconds,
        backoff=backoff,
        stop=stop,
    )


class StillSource:
    """Image file, folder of images or snapshot URL; see the module docstring."""

    def __init__(
        self,
        camera: str,
        url: str,
        fps: float,
        *,
        kind: StillKind | None = None,
        ca_file: str | None = None,
        width: int | None = None,
        open_timeout: float = 10.0,
        watchdog_seconds: float = 10.0,
        backoff: BackoffPolicy | None = None,
        stop: threading.Event | None = None,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        FrameSampler(fps)  # validates fps
        if width is not None and width < 2:
            raise ValueError(f"camera {camera!r}: width must be >= 2, got {width}")
        found = kind or still_kind(url, snapshot=classify(url) == "http")
        if found is None:
            raise SourceError(f"camera {camera!r}: {redact_url(url)} is not an image source")
        self.camera = camera
        self.kind: StillKind = found
        self.fps = fps
        self.width = width
        self.open_timeout = open_timeout
        self.watchdog_seconds = watchdog_seconds
        self.stop_event = stop or threading.Event()
        self._url = url
        self._secrets = url_secrets(url)
        self._policy = backoff or BackoffPolicy()
        self._rng = rng
        self._transport = transport
        self._ca_file = ca_file  # the path only: its contents are never logged
        self._tls: ssl.SSLContext | None = None  # made once, at the first fetch
        self._lock = threading.Lock()
        self._stats = SourceStats()
        self._busy_since: float | None = None

    @property
    def url(self) -> str:
        """The URL with credentials masked; safe to log and show."""
        return redact_url(self._url)

    @property
    def is_live(self) -> bool:
        return self.kind == "snapshot"

    @property
    def stats(self) -> SourceStats:
        with self._lock:
            return replace(self._stats)

    def __repr__(self) -> str:
        return f"StillSource(camera={self.camera!r}, url={self.url!r}, fps={self.fps})"

    def stuck_seconds(self) -> float:
        """How long the reading thread has been in one read, decode or request (0 if not)."""
        since = self._busy_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    def redact(self, text: str) -> str:
        """Scrub this source's credentials from `text`."""
        return redact_text(text, self._secrets)

    def frames(self) -> Iterator[Frame]:
        """Yield frames; a file or folder fails here (not at the first frame) when empty."""
        if self.kind == "snapshot":
            return self._snapshots()
        if self.kind == "image":
            path = _path(self._url)
            if not path.is_file():
                raise self._error(f"cannot open {self.url}: no such image file")
            return self._files([path])
        try:
            files = _images(self._url)
        except SourceError as exc:
            raise self._error(str(exc)) from None
        return self._files(files)

    # -- files and folders -------------------------------------------------------------

    def _files(self, files: list[Path]) -> Iterator[Frame]:
        with self._lock:
            self._stats.connected = True
            self._stats.source_fps = self.fps
            self._stats.duration_seconds = (len(files) - 1) / self.fps if len(files) > 1 else None
        index = 0
        last_problem = ""
        try:
            for position, path in enumerate(files):
                if self.stop_event.is_set():
                    return
                self._busy_since = time.monotonic()
                try:
                    image = self._decode(path.read_bytes())
                except (OSError, ValueError) as exc:
                    last_problem = f"{path.name}: {_describe(exc)}"
                    with self._lock:
                        self._stats.decode_errors += 1
                    continue
                finally:
                    self._busy_since = None
                frame = self._frame(image, index, position / self.fps)
                index += 1
                yield frame
        finally:
            self._busy_since = None
            with self._lock:
                self._stats.connected = False
        stats = self.stats
        if stats.frames_decoded == 0 and not self.stop_event.is_set():
            if self.kind == "image":
                raise self._error(f"cannot read {self.url}: {last_problem.split(': ', 1)[-1]}")
            raise self._error(
                f"no image could be decoded in {self.url} ({stats.decode_errors} damaged, "
                f"e.g. {last_problem})"
            )
        if stats.decode_errors:
            logger.warning(
                "camera %r: %d image(s) in %s could not be decoded and were skipped",
                self.camera,
                stats.decode_errors,
                self.url,
            )

    # -- snapshot URLs -----------------------------------------------------------------

    def _snapshots(self) -> Iterator[Frame]:
        backoff = Backoff(self._policy, self._rng)
        interval = 1.0 / self.fps
        fetch_url, auth = _split_credentials(self._url)
        if self._ca_file is not None and self._tls is None:
            try:
                self._tls = ssl.create_default_context(cafile=self._ca_file)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
                raise self._error(f"ca_file {self._ca_file}: cannot use it: {reason}") from None
        client = self._client(auth)
        index = 0
        first: float | None = None  # monotonic time of the first snapshot
        delivered = False  # some snapshot arrived: the next after a failure is a recovery
        failing = False
        reported: str | None = None  # the failure last logged at warning level
        next_due = time.monotonic()
        try:
            while not self.stop_event.is_set():
                wait = next_due - time.monotonic()
                if wait > 0 and self.stop_event.wait(wait):
                    return
                now = time.monotonic()
                next_due = max(next_due + interval, now)  # a slow answer delays, no burst
                try:
                    body = self._fetch(client, fetch_url)
                except Exception as exc:  # any failure: log once, back off, try again
                    problem = self.redact(_describe(exc))
                    with self._lock:
                        self._stats.connected = False
                        self._stats.last_error = f"cannot fetch a snapshot: {problem}"
                    delay = backoff.next_delay()
                    # One warning per outage; a new reason during it at info (-v), the same
                    # again at debug.
                    level = (
                        logging.WARNING
                        if reported is None
                        else logging.DEBUG
                        if problem == reported
                        else logging.INFO
                    )
                    reported = problem
                    logger.log(
                        level,
                        "camera %r: cannot fetch a snapshot from %s: %s; retrying in %.1f s",
                        self.camera,
                        self.url,
                        problem,
                        delay,
                    )
                    failing = True
                    client.close()
                    client = self._client(auth)
                    if self.stop_event.wait(delay):
                        return
                    next_due = time.monotonic()
                    continue
                backoff.reset()
                try:
                    self._busy_since = time.monotonic()
                    image = self._decode(body)
                except ValueError as exc:
                    with self._lock:
                        self._stats.decode_errors += 1
                    logger.debug("camera %r: snapshot skipped: %s", self.camera, exc)
                    continue
                finally:
                    self._busy_since = None
                if failing and delivered:
                    with self._lock:
                        self._stats.reconnects += 1
                    logger.info("camera %r: snapshots from %s again", self.camera, self.url)
                failing, reported, delivered = False, None, True
                with self._lock:
                    self._stats.connected = True
                    self._stats.last_error = None
                first = now if first is None else first
                frame = self._frame(image, index, now - first)
                index += 1
                yield frame
        finally:
            client.close()
            self._busy_since = None
            with self._lock:
                self._stats.connected = False

    def _client(self, auth: httpx.Auth | None) -> httpx.Client:
        return httpx.Client(
            auth=auth,
            timeout=httpx.Timeout(self.watchdog_seconds, connect=self.open_timeout),
            follow_redirects=True,
            transport=self._transport,
            trust_env=False,
            verify=self._tls if self._tls is not None else True,  # never off
        )

    def _fetch(self, client: httpx.Client, url: str) -> bytes:
        """The body of one snapshot; raises with a plain reason when it is not one."""
        self._busy_since = time.monotonic()
        try:
            with client.stream("GET", url) as response:
                if response.status_code == 401:
                    raise _SnapshotError(_auth_problem(response, client.auth))
                if response.status_code != 200:
                    raise _SnapshotError(
                        f"HTTP {response.status_code} {response.reason_phrase}".strip()
                    )
                content_type = response.headers.get("content-type", "").split(";")[0].strip()
                content_type = content_type.lower()
                if content_type.startswith("multipart/"):
                    raise _SnapshotError(
                        f"the URL streams video ({content_type}), not snapshots: remove "
                        "`snapshot: true` to read it as a video stream"
                    )
                if content_type and not (
                    content_type.startswith("image/") or content_type == "application/octet-stream"
                ):
                    raise _SnapshotError(f"not an image (Content-Type {content_type})")
                body = bytearray()
                for chunk in response.iter_bytes():
                    if time.monotonic() - self._busy_since > self.watchdog_seconds:
                        raise _SnapshotError(  # a byte now and then beats every read timeout
                            f"one snapshot took more than {self.watchdog_seconds:g} s to arrive"
                        )
                    body.extend(chunk)
                    if len(body) > _MAX_SNAPSHOT_BYTES:
                        raise _SnapshotError(
                            f"answer larger than {_MAX_SNAPSHOT_BYTES // 2**20} MB: not a snapshot"
                        )
                return bytes(body)
        finally:
            self._busy_since = None

    # -- shared ------------------------------------------------------------------------

    def _decode(self, data: bytes) -> Image:
        """8-bit BGR image, downscaled to `width`; ValueError when `data` is no image."""
        if not data:
            raise ValueError("empty file")
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None or image.ndim != 3 or image.size == 0:
            raise ValueError("not a decodable image (jpg, png, bmp, webp, tiff)")
        height, width = int(image.shape[0]), int(image.shape[1])
        if width * height > _MAX_PIXELS:
            raise ValueError(f"absurd image size {width}x{height}")
        with self._lock:
            self._stats.width, self._stats.height = width, height
        if self.width is not None and width > self.width:
            new_height = max(2, round(self.width * height / width / 2) * 2)
            image = cv2.resize(image, (self.width, new_height), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(image, dtype=np.uint8)

    def _frame(self, image: Image, index: int, pts: float) -> Frame:
        with self._lock:
            self._stats.frames_decoded += 1
            self._stats.frames_sampled += 1
            self._stats.last_frame_monotonic = time.monotonic()
        return Frame(self.camera, index, pts, image, datetime.now(UTC))

    def _error(self, message: str) -> SourceError:
        return SourceError(f"camera {self.camera!r}: {self.redact(message)}")


class _SnapshotError(Exception):
    """A snapshot URL answered, but not with a snapshot; the message says why."""


class _ChallengeAuth(httpx.Auth):
    """Basic or digest auth, whichever the server's challenge names (digest preferred).

    The first request goes without credentials; the scheme the 401 names is then used,
    and kept for the following requests (digest reuses its nonce until the server
    refuses it, e.g. after a restart, and then answers the new challenge).
    """

    def __init__(self, user: str, password: str) -> None:
        self._basic = httpx.BasicAuth(user, password)
        self._digest = httpx.DigestAuth(user, password)
        self.scheme: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.scheme == "digest":
            yield from self._digest.auth_flow(request)
            return
        if self.scheme == "basic":
            yield from self._basic.auth_flow(request)
            return
        response = yield request
        if response.status_code != 401:
            return
        schemes = _challenge_schemes(response)
        if "digest" in schemes:
            self.scheme = "digest"
            flow = self._digest.auth_flow(request)
            next(flow)  # the request without credentials: already sent and answered
            try:
                retry = flow.send(response)
                while True:
                    answer = yield retry
                    retry = flow.send(answer)
            except StopIteration:
                return
        elif "basic" in schemes:
            self.scheme = "basic"
            yield from self._basic.auth_flow(request)


_SCHEME_TOKEN = re.compile(r"(?:^|,)\s*([A-Za-z][A-Za-z0-9_-]*)(?=\s+[A-Za-z0-9_-]+=|\s*$|\s*,)")


def _challenge_schemes(response: httpx.Response) -> set[str]:
    """The auth schemes named in a 401's WWW-Authenticate header(s), lower case."""
    found: set[str] = set()
    for header in response.headers.get_list("www-authenticate"):
        found.update(match.group(1).lower() for match in _SCHEME_TOKEN.finditer(header))
    return found


def _auth_problem(response: httpx.Response, auth: httpx.Auth | None) -> str:
    if not isinstance(auth, _ChallengeAuth):
        return "HTTP 401 Unauthorized: the camera wants a user and password in the URL"
    schemes = _challenge_schemes(response)
    if auth.scheme is None and not schemes & {"basic", "digest"}:
        named = ", ".join(sorted(schemes)) or "none"
        return f"HTTP 401 Unauthorized: unsupported authentication ({named}; basic or digest work)"
    return "HTTP 401 Unauthorized: authorization failed, check the user name and password"


def _split_credentials(url: str) -> tuple[str, httpx.Auth | None]:
    """The URL without its user-info, and auth built from that user-info (None without)."""
    span = userinfo_span(url)
    if span is None:
        return url, None
    start, at = span
    userinfo = url[start:at]
    user, _, password = userinfo.partition(":")
    return url[:start] + url[at + 1 :], _ChallengeAuth(unquote(user), unquote(password))


def _path(url: str) -> Path:
    return Path(unquote(url[7:]) if url.startswith("file://") else url)


def _images(url: str) -> list[Path]:
    """The image files of a directory in name order; SourceError when there are none."""
    folder = _path(url)
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except FileNotFoundError:
        raise SourceError(f"cannot open {redact_url(url)}: no such directory") from None
    except OSError as exc:
        raise SourceError(f"cannot open {redact_url(url)}: {exc.strerror or exc}") from None
    images = [
        p
        for p in entries
        if not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    ]
    if not images:
        kinds = ", ".join(s.lstrip(".") for s in sorted(IMAGE_SUFFIXES))
        raise SourceError(f"no images ({kinds}) in the directory {redact_url(url)}")
    return images


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _SnapshotError | ValueError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, httpx.TimeoutException):
        return "timed out: no answer in time"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused"
        if "certificate_verify_failed" in text or "certificate verify failed" in text:
            why = str(exc).partition("certificate verify failed:")[2].split("(_ssl")[0]
            why = why.strip(" .") or "not trusted"
            if "mismatch" in why.lower():  # the host name is checked, also with a ca_file
                hint = "use the host name or address the certificate names in the URL"
            else:
                hint = "for a camera's self-signed certificate set `ca_file:` to it"
            return f"TLS certificate not trusted ({why[:160]}); {hint}"
        return f"cannot connect ({str(exc).splitlines()[0][:200] if str(exc) else 'no route'})"
    lines = str(exc).splitlines()
    text = lines[0].strip() if lines else ""
    name = type(exc).__name__
    return f"{name}: {text[:200]}" if text else name
