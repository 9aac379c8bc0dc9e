"""Grab one frame of a camera at its own resolution (for `onsight snapshot`)."""

from __future__ import annotations

import threading

from onsight.errors import SourceError
from onsight.ingest.backoff import BackoffPolicy
from onsight.ingest.stills import open_source
from onsight.types import Frame

_GRAB_FPS = 60.0  # sample densely so the frame is the one nearest `at`


def grab_frame(
    camera: str,
    url: str,
    at: float,
    timeout: float = 20.0,
    *,
    snapshot: bool = False,
    ca_file: str | None = None,
) -> Frame:
    """The first frame at or after `at` seconds: stream time for a file, seconds from now live
    (`snapshot`: `url` is a snapshot URL, polled rather than streamed; `ca_file`: the PEM
    file trusted for an https snapshot URL).

    A live source that yields nothing within `at + timeout` seconds raises SourceError.
    """
    if at < 0:
        raise SourceError(f"camera {camera!r}: --at must be >= 0 seconds")
    stop = threading.Event()
    source = open_source(
        camera,
        url,
        _GRAB_FPS,
        snapshot=snapshot,
        ca_file=ca_file,
        width=None,
        open_timeout=timeout,
        stop=stop,
        backoff=BackoffPolicy(initial=1.0, cap=5.0),
    )
    deadline = threading.Timer(at + timeout, stop.set)
    deadline.daemon = True
    deadline.start()
    last: Frame | None = None
    try:
        for frame in source.frames():
            last = frame
            if frame.pts + 0.5 / _GRAB_FPS >= at:
                return frame
    finally:
        deadline.cancel()
        stop.set()
    if last is None:
        raise SourceError(f"camera {camera!r}: no frame from {source.url}")
    if source.is_live:
        raise SourceError(f"camera {camera!r}: no frame from {source.url} within {timeout:g} s")
    raise SourceError(
        f"camera {camera!r}: {source.url} ends at {last.pts:.2f} s; choose --at below that"
    )
