"""Ingest: turn a camera URL or a file into `Frame`s at the analysis rate.

Public surface: `VideoSource` (with `SourceStats`), the reconnect policy
(`BackoffPolicy`, `Backoff`), the timestamp sampler (`FrameSampler`) and URL helpers
that keep camera credentials out of logs and errors. The names load on first use: the URL
helpers must not pull in video decoding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from onsight._lazy import lazy_exports

if TYPE_CHECKING:
    from onsight.ingest.backoff import Backoff, BackoffPolicy
    from onsight.ingest.sampler import FrameSampler
    from onsight.ingest.source import SourceStats, VideoSource
    from onsight.ingest.urls import (
        RedactingFilter,
        SourceKind,
        classify,
        redact_text,
        redact_url,
        url_secrets,
    )

_EXPORTS = {
    "Backoff": "onsight.ingest.backoff",
    "BackoffPolicy": "onsight.ingest.backoff",
    "FrameSampler": "onsight.ingest.sampler",
    "SourceStats": "onsight.ingest.source",
    "VideoSource": "onsight.ingest.source",
    "RedactingFilter": "onsight.ingest.urls",
    "SourceKind": "onsight.ingest.urls",
    "classify": "onsight.ingest.urls",
    "redact_text": "onsight.ingest.urls",
    "redact_url": "onsight.ingest.urls",
    "url_secrets": "onsight.ingest.urls",
}

__all__ = [
    "Backoff",
    "BackoffPolicy",
    "FrameSampler",
    "RedactingFilter",
    "SourceKind",
    "SourceStats",
    "VideoSource",
    "classify",
    "redact_text",
    "redact_url",
    "url_secrets",
]

__getattr__ = lazy_exports(_EXPORTS)
