"""Retention (privacy rule 5): delete events and media older than the configured periods.

Runs at start-up and then every `check_minutes`. Media files are only ever looked for in the
configured media folder, and only image/video files there are deleted; with media storage
off, any media found there is deleted whatever its age.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from onsight.config.privacy import RetentionConfig
from onsight.events import EventStore

log = logging.getLogger(__name__)

MEDIA_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".mp4", ".mkv", ".avi", ".webm", ".ts"})


@dataclass(frozen=True)
class RetentionReport:
    rows: dict[str, int]
    media_files: int

    @property
    def total(self) -> int:
        return sum(self.rows.values()) + self.media_files


class Retention:
    def __init__(
        self,
        settings: RetentionConfig,
        store: EventStore,
        media_dir: Path,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._store = store
        self._media_dir = media_dir
        self._clock = clock

    def enforce(self) -> RetentionReport:
        now = self._clock()
        rows = self._store.delete_before(now - timedelta(days=self.settings.events_days))
        media = self._prune_media(now)
        report = RetentionReport(rows, media)
        if report.total:
            log.info("retention deleted %d rows and %d media files", sum(rows.values()), media)
        return report

    def _prune_media(self, now: datetime) -> int:
        if not self._media_dir.is_dir():
            return 0
        keep_from = (now - timedelta(hours=self.settings.media_hours)).timestamp()
        deleted = 0
        for path in self._media_dir.rglob("*"):
            if not path.is_file() or path.suffix.lower() not in MEDIA_SUFFIXES:
                continue
            if self.settings.store_media and path.stat().st_mtime >= keep_from:
                continue
            try:
                path.unlink()
                deleted += 1
            except OSError as exc:
                log.warning("retention cannot delete %s: %s", path, exc.strerror)
        return deleted
