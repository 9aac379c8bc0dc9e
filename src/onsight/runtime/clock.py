"""Event times for live cameras that never run backwards.

A live frame is stamped with the wall clock, so events line up with the site's day. But the
wall clock can be stepped: NTP correcting a box that booted with a wrong time, or someone
setting it by hand. A step back would stamp new events before old ones and reopen minutes
and hours that apps have already closed and released. So:

- forwards the stamp follows the wall clock, a step forward included (the minutes skipped
  simply have no data);
- after a step back it keeps going at half the speed of the monotonic clock until the wall
  clock catches up, so events stay in order and aggregates stay closed.

Durations never come from here: apps time visits and waits on the frame's `pts`, which for
a live camera runs on the monotonic clock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

SLEW = 0.5  # how fast stamps advance, against real time, while the wall clock is behind


class EventClock:
    """Turns (wall clock, monotonic clock) readings into non-decreasing event times."""

    def __init__(self, camera: str) -> None:
        self._camera = camera
        self._last: datetime | None = None
        self._last_mono = 0.0
        self._behind = False

    def stamp(self, wall: datetime, mono: float) -> datetime:
        if self._last is None:
            moment = wall
        elif wall >= self._last:
            moment = wall
            if self._behind:
                self._behind = False
                log.info("camera %r: the wall clock caught up; event times follow it", self._camera)
        else:
            if not self._behind:
                self._behind = True
                log.warning(
                    "camera %r: the wall clock went back %.1f s; event times slow down until it "
                    "catches up, so they stay in order",
                    self._camera,
                    (self._last - wall).total_seconds(),
                )
            moment = self._last + timedelta(seconds=max(0.0, mono - self._last_mono) * SLEW)
        self._last, self._last_mono = moment, mono
        return moment
