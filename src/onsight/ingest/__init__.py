"""Ingest: turn a camera URL or a file into `Frame`s at the analysis rate.

Public surface: `VideoSource` (with `SourceStats`), the reconnect policy
(`BackoffPolicy`, `Backoff`), the timestamp sampler (`FrameSampler`) and URL helpers
that keep camera credentials out of logs and errors.
"""

from __future__ import annotations

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
