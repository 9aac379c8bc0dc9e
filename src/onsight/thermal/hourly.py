"""Hourly screening counts: the only thing a screening station stores.

Per (UTC hour, camera): how many people were screened and how many alerted. No time finer
than the hour, no temperature, no image, no per-person row.

k-anonymity rule (k >= 5, suppressed, never rounded):
- an hour with fewer than k screened people is not released at all (no row is written);
- the alerted count is released only when at least k people alerted AND at least k did not;
  otherwise it is NULL ("suppressed"). Zero is suppressed too: if 0 were shown and 1-4 hidden,
  a hidden value would itself say "someone alerted this hour". With both sides >= k, knowing
  that a person passed in that hour does not tell whether they alerted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from onsight.thermal.station import ScreeningResult


@dataclass(frozen=True, slots=True)
class ScreeningHour:
    hour: datetime  # start of the UTC hour
    camera: str
    screened: int
    alerted: int | None  # None: suppressed

    def as_row(self) -> tuple[datetime, str, int, int | None]:
        return (self.hour, self.camera, self.screened, self.alerted)


def release(
    hour: datetime, camera: str, screened: int, alerted: int, k: int
) -> ScreeningHour | None:
    """Apply the k rule to one hour's raw counts; None when the hour must not be released."""
    if k < 5:
        raise ValueError("k must be at least 5")
    if screened < k:
        return None
    shown = alerted if alerted >= k and screened - alerted >= k else None
    return ScreeningHour(hour, camera, screened, shown)


def hour_start(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("hourly counts need an aware datetime (UTC)")
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class HourlyCounter:
    """Counts screened people per hour in memory; releases completed hours with suppression."""

    def __init__(self, camera: str, k: int = 5) -> None:
        if k < 5:
            raise ValueError("k must be at least 5")
        self._camera = camera
        self._k = k
        self._open: dict[datetime, list[int]] = {}  # hour -> [screened, alerted]

    def add(self, result: ScreeningResult, at: datetime) -> None:
        """Count a station result; only the frame that decided for a new person counts."""
        if not result.new_subject:
            return
        counts = self._open.setdefault(hour_start(at), [0, 0])
        counts[0] += 1
        counts[1] += int(result.alert)

    def flush(self, now: datetime) -> list[ScreeningHour]:
        """Release (and forget) every hour that has ended by `now`."""
        current = hour_start(now)
        return self._release([hour for hour in self._open if hour < current])

    def flush_all(self) -> list[ScreeningHour]:
        """Release everything, the current hour included (at shutdown)."""
        return self._release(list(self._open))

    def _release(self, hours: Sequence[datetime]) -> list[ScreeningHour]:
        released = []
        for hour in sorted(hours):
            screened, alerted = self._open.pop(hour)
            row = release(hour, self._camera, screened, alerted, self._k)
            if row is not None:
                released.append(row)
        return released
