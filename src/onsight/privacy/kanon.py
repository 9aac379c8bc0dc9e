"""k-anonymous release of duration statistics (privacy rule 2).

A group's statistics are released only when at least `K` distinct tracks contributed;
smaller groups are suppressed entirely (not rounded, not reported as "fewer than 5").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

K = 5


@dataclass(frozen=True, slots=True)
class DurationStats:
    people: int
    median_seconds: float
    p90_seconds: float


def release_durations(visits: Mapping[int, list[float]], k: int = K) -> DurationStats | None:
    """Statistics over every visit of every contributor, or None when fewer than `k` contributed.

    `visits` maps an in-memory contributor key (a track id, never stored) to its durations.
    """
    contributors = [key for key, durations in visits.items() if durations]
    if len(contributors) < k:
        return None
    durations = np.concatenate([np.asarray(visits[key], np.float64) for key in contributors])
    return DurationStats(
        people=len(contributors),
        median_seconds=round(float(np.median(durations)), 1),
        p90_seconds=round(float(np.percentile(durations, 90)), 1),
    )
