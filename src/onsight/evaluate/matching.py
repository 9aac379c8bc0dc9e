"""One-to-one matching of counted crossings to true ones, and the scores a site can act on.

A counted crossing matches a true one of the same direction within `tolerance` seconds;
each event is used at most once, and the assignment maximises the number of matches (then
minimises the total time difference). Totals alone hide errors: a missed crossing and a
spurious one cancel in a total but show here as one miss and one spurious event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from typing import Protocol

import numpy as np

from onsight.types import Direction

TOLERANCE_S = 1.0
DIRECTIONS: tuple[Direction, ...] = ("in", "out")


class Timed(Protocol):
    @property
    def time(self) -> float: ...

    @property
    def direction(self) -> Direction: ...


@dataclass(frozen=True, slots=True)
class LineScore:
    """Event-level figures for one line (or a sum of lines)."""

    true_in: int
    true_out: int
    counted_in: int
    counted_out: int
    matched: int

    @property
    def true(self) -> int:
        return self.true_in + self.true_out

    @property
    def counted(self) -> int:
        return self.counted_in + self.counted_out

    @property
    def missed(self) -> int:
        return self.true - self.matched

    @property
    def spurious(self) -> int:
        return self.counted - self.matched

    @property
    def precision(self) -> float | None:
        return self.matched / self.counted if self.counted else None

    @property
    def recall(self) -> float | None:
        return self.matched / self.true if self.true else None

    @property
    def f1(self) -> float | None:
        total = self.true + self.counted
        return 2 * self.matched / total if total else None

    @property
    def count_error(self) -> int:
        """|counted - true| per direction, summed: what a totals-only check would see."""
        return abs(self.counted_in - self.true_in) + abs(self.counted_out - self.true_out)

    def __add__(self, other: LineScore) -> LineScore:
        return LineScore(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "true": self.true,
            "true_in": self.true_in,
            "true_out": self.true_out,
            "counted": self.counted,
            "counted_in": self.counted_in,
            "counted_out": self.counted_out,
            "matched": self.matched,
            "missed": self.missed,
            "spurious": self.spurious,
            "precision": _rounded(self.precision),
            "recall": _rounded(self.recall),
            "f1": _rounded(self.f1),
            "count_error": self.count_error,
            "aggregate_error": _rounded(self.count_error / self.true if self.true else None),
        }


EMPTY = LineScore(0, 0, 0, 0, 0)


def match_count(
    truth: Sequence[Timed], counted: Sequence[Timed], tolerance: float = TOLERANCE_S
) -> int:
    """How many counted events match a distinct true event (same direction, within tolerance)."""
    matched = 0
    for direction in DIRECTIONS:
        t = np.array([e.time for e in truth if e.direction == direction], np.float64)
        c = np.array([e.time for e in counted if e.direction == direction], np.float64)
        if len(t) == 0 or len(c) == 0:
            continue
        gap = np.abs(t[:, None] - c[None, :])
        feasible = gap <= tolerance
        # Infeasible pairs cost more than any set of feasible ones, so the assignment
        # first maximises the number of matches, then minimises the time differences.
        cost = np.where(feasible, gap, tolerance * (len(t) + len(c) + 1))
        from scipy.optimize import linear_sum_assignment  # slow to import: only when scoring

        rows, cols = linear_sum_assignment(cost)
        matched += int(feasible[rows, cols].sum())
    return matched


def score_line(
    truth: Sequence[Timed], counted: Sequence[Timed], tolerance: float = TOLERANCE_S
) -> LineScore:
    return LineScore(
        true_in=_count(truth, "in"),
        true_out=_count(truth, "out"),
        counted_in=_count(counted, "in"),
        counted_out=_count(counted, "out"),
        matched=match_count(truth, counted, tolerance),
    )


def total(scores: Iterable[LineScore]) -> LineScore:
    result = EMPTY
    for score in scores:
        result = result + score
    return result


def _count(events: Sequence[Timed], direction: Direction) -> int:
    return sum(1 for e in events if e.direction == direction)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
