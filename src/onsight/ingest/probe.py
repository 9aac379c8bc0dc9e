"""Open a camera URL once and take one frame: the dashboard's "Test connection".

Goes through `open_source` (a video or a still source), as the running camera will, but
gives up at the first failed connection (or after `timeout` seconds) and says why in a few
plain words. The reason never holds the URL's credentials: the source redacts what it
reports.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from onsight.errors import SourceError
from onsight.ingest.backoff import BackoffPolicy
from onsight.ingest.stills import open_source
from onsight.ingest.urls import redact_text, url_secrets
from onsight.types import Frame

_POLL = 0.05  # seconds between looks at the reading thread

# Words in FFmpeg's and onsight's messages -> the reason shown (first match wins).
_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("401", "unauthorized", "authorization failed", "403", "forbidden"),
        "authentication failed: check the user name and password",
    ),
    (("connection refused",), "connection refused: nothing answers at that address and port"),
    (
        ("no answer within", "timed out", "timeout", "no data for", "no frame for"),
        "timed out: the camera did not answer in time",
    ),
    (
        ("no route to host", "network is unreachable", "name or service", "resolve"),
        "host not reachable: check the address",
    ),
    (("404", "not found", "no such file"), "not found: check the path of the stream"),
    (
        ("invalid data", "no video stream", "not a video", "unsupported", "codec"),
        "not a video: the address answered but sent no video stream",
    ),
)


@dataclass(frozen=True)
class ProbeResult:
    frame: Frame | None  # the first frame, unredacted: redact before showing it
    reason: str = ""  # why there is no frame, in plain words


def plain_reason(message: str) -> str:
    """A failure message as one of a few plain reasons (else the message itself)."""
    lowered = message.lower()
    for words, reason in _REASONS:
        if any(word in lowered for word in words):
            return reason
    return message


def probe(
    camera: str,
    url: str,
    fps: float,
    width: int,
    timeout: float = 8.0,
    *,
    snapshot: bool = False,
    ca_file: str | None = None,
) -> ProbeResult:
    """One frame from `url`, or the reason there is none, within about `timeout` seconds
    (`snapshot`: `url` is a snapshot URL, polled rather than streamed; `ca_file`: the PEM
    file trusted for an https snapshot URL)."""
    stop = threading.Event()
    try:
        source = open_source(
            camera,
            url,
            fps,
            snapshot=snapshot,
            ca_file=ca_file,
            width=width,
            open_timeout=timeout,
            watchdog_seconds=timeout,
            backoff=BackoffPolicy(initial=timeout, cap=timeout),  # no second attempt
            stop=stop,
        )
    except (SourceError, ValueError) as exc:
        return ProbeResult(None, plain_reason(redact_text(str(exc), url_secrets(url))))
    found: list[Frame] = []
    errors: list[str] = []

    def read() -> None:
        try:
            for frame in source.frames():
                found.append(frame)
                break
        except SourceError as exc:
            errors.append(str(exc))
        finally:
            stop.set()

    reader = threading.Thread(target=read, name=f"probe-{camera}", daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while reader.is_alive() and source.stats.last_error is None:
        if time.monotonic() > deadline:
            break
        reader.join(_POLL)
    stop.set()
    reader.join(timeout)
    if found:
        return ProbeResult(found[0])
    message = source.stats.last_error or (errors[0] if errors else "")
    if not message:
        return ProbeResult(None, f"timed out: no frame within {timeout:g} s")
    # The URL (its port, its path) must not be read as a reason.
    return ProbeResult(None, plain_reason(source.redact(message).replace(source.url, "the URL")))
