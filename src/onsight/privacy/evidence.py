"""Images kept with an alert (a rejected item and its heatmap), when the site keeps media.

Written under `<media_dir>/<camera>/<event kind>/`, where retention deletes them after
`retention.media_hours` (72 at most). Only events that carry `evidence` have any; the images
in it were cleared of people when they were taken (see `redact.obliterate_people`). A write
that fails is logged: the alert itself is stored and published by the other sinks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from onsight.privacy._encode import encode, write
from onsight.types import Event, Image

log = logging.getLogger(__name__)


class EvidenceSink:
    def __init__(self, media_dir: Path) -> None:
        self._media_dir = media_dir
        self.written = 0

    def write(self, events: Sequence[Event]) -> None:
        for event in events:
            evidence = getattr(event, "evidence", None)
            if evidence is None:
                continue
            when = getattr(event, "time", None) or datetime.now(UTC)
            stamp = when.strftime("%Y%m%dT%H%M%S_%fZ")
            folder = self._media_dir / event.camera / event.kind
            for name, image in evidence.images.items():
                path = folder / f"{stamp}-{name}.jpg"
                try:
                    write(path, image)
                except OSError as exc:
                    log.warning("cannot keep %s: %s", path, exc)
                    continue
                self.written += 1


def save_item_image(path: Path, image: Image) -> None:
    """Write an inspection camera's item image (people already obliterated: the app's
    `on_item` hands out no other), e.g. for `onsight inspect collect`."""
    write(path, image)


def encode_item_image(image: Image, quality: int = 85) -> bytes:
    """JPEG bytes of an inspection camera's item image or heatmap for the dashboard. Only for
    images whose people were already obliterated and whose masks were burned in when they
    were taken (e.g. `Inspector.recent_rejects`); a camera frame goes through
    `redact.encode_redacted` instead."""
    return encode(image, ".jpg", quality)
