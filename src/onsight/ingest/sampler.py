"""Choose frames at the analysis rate from the stream's own timestamps.

Timestamps, not arrival times, decide which frames are analysed, so a file gives
the same frames however fast the machine decodes it. The sampler keeps, for each
point of a grid spaced ``1/fps`` apart, the first frame at or after that point
(less half a source frame of tolerance, so the frame *nearest* the grid point wins
on exact multiples despite rounding or jitter). A frame kept late (after a gap, or
in variable-frame-rate video) re-anchors the grid, so analysed frames are never
much closer than one interval and a gap is not followed by a burst.

Streams are not always well behaved, so the sampler works on an *effective*
timeline built from the PTS:

* like FFmpeg's "best effort timestamp", PTS and DTS (when given) are both checked
  for going backwards (and PTS for preceding DTS), and the one with fewer faults is
  used: AVI files with B-frames carry PTS in decode order; their DTS are the clock;
* a frame without either gets the previous effective time plus one source frame
  (frame counting at the stream's average rate);
* a small step backwards (reordering glitch) is kept as is: such a frame is simply
  never due;
* a large step backwards (a wrapped or restarted clock) re-bases the timeline so
  that it continues one source frame after the previous frame;
* `restart` re-bases explicitly after a reconnect, continuing after the real gap;
* with ``zero_based`` the timeline starts at 0 (live streams, whose clock is arbitrary).

Effective times of kept frames are strictly increasing.

`never_due` answers, before a packet is decoded, whether its frame is certain to be turned
away, so that the decoder may skip it when no other frame refers to it (see
`onsight.ingest.source`). It only says yes on the PTS clock, for a frame after the last kept
one and before the next grid point once the frames still in the decoder (which come out
first, in PTS order) have been offered: a frame's effective time there is its PTS plus the
current offset, and the grid only moves forward, so the answer holds when the frame would
have been offered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# A backwards step larger than this (and larger than two analysis intervals) is a
# clock reset, not jitter.
_RESET_SECONDS = 1.0
_FALLBACK_RATE = 25.0


class FrameSampler:
    """Decide per decoded frame whether it is analysed; see the module docstring."""

    def __init__(
        self, fps: float, source_rate: float | None = None, *, zero_based: bool = False
    ) -> None:
        if not fps > 0 or not math.isfinite(fps):
            raise ValueError(f"analysis fps must be a positive number, got {fps!r}")
        self.fps = fps
        self._interval = 1.0 / fps
        self._source_rate = _FALLBACK_RATE
        self._tolerance = 0.0
        self.set_source_rate(source_rate)
        self._offset = 0.0
        self._last: float | None = None  # effective time of the previous frame
        self._last_kept: float | None = None
        self._next_due: float | None = None
        self._pending_gap: float | None = None
        self._zero_based = zero_based
        self._last_pts: float | None = None
        self._last_dts: float | None = None
        self._faulty_pts = 0
        self._faulty_dts = 0

    @property
    def interval(self) -> float:
        return self._interval

    def set_source_rate(self, source_rate: float | None) -> None:
        """Tell the sampler the stream's average frame rate (None or 0 when unknown)."""
        if source_rate is not None and source_rate > 0 and math.isfinite(source_rate):
            self._source_rate = source_rate
            self._tolerance = min(0.5 / source_rate, 0.5 * self._interval)
        else:
            self._source_rate = _FALLBACK_RATE
            self._tolerance = 1e-6

    def restart(self, gap_seconds: float = 0.0) -> None:
        """The next frame starts a new timeline (e.g. after a reconnect).

        Its effective time becomes the previous frame's plus `gap_seconds` (at least
        one source frame), so effective times stay increasing across the break.
        """
        self._pending_gap = max(gap_seconds, 1.0 / self._source_rate)

    def offer(self, pts: float | None, dts: float | None = None) -> float | None:
        """Return the effective timestamp if this frame is to be analysed, else None.

        `pts` and `dts` are the decoded frame's timestamps in seconds (None if absent).
        """
        t = self._effective(self._best_effort(pts, dts))
        self._last = t
        next_due = self._next_due_after(t, self._last_kept, self._next_due)
        if next_due is None:
            return None
        self._next_due, self._last_kept = next_due, t
        return t

    def _next_due_after(
        self, t: float, last_kept: float | None, next_due: float | None
    ) -> float | None:
        """The next grid point once a frame at effective time `t` is kept, or None if it is
        turned away (at or before the last kept frame, or before the next grid point)."""
        if last_kept is not None and t <= last_kept:
            return None
        if next_due is not None and t < next_due - self._tolerance:
            return None
        due = t if next_due is None else next_due
        if t > due + self._tolerance:
            # Late (a gap in the stream, variable frame rate, a slow source): re-anchor,
            # so that the next analysed frame is a full interval later, not a burst.
            return t + self._interval
        return due + self._interval

    def never_due(self, pts: float, before: Sequence[float] = ()) -> bool:
        """Whether a frame with this PTS (seconds, the stream's clock) will not be analysed;
        False whenever that is not certain.

        `before`: the PTS of the frames still in the decoder (NaN for one without; frames
        vouched for may be left out, since they are turned away), which will be offered
        first (a B-frame's packet arrives before the frames shown ahead of it). Those kept
        move the grid on, so that more frames can be vouched for; if one of them then fails
        to decode, the frame vouched for may have been due, and the next one is analysed. A
        frame of unknown time there, or one that steps back (a clock reset?), and nothing is
        vouched for."""
        if self._last_kept is None or self._next_due is None or self._pending_gap is not None:
            return False
        on_pts_clock = self._last_pts is not None and (
            self._last_dts is None or self._faulty_pts <= self._faulty_dts
        )
        if not on_pts_clock or not math.isfinite(pts) or not all(map(math.isfinite, before)):
            return False
        t = pts + self._offset
        last_kept, next_due = self._last_kept, self._next_due
        shown_first = sorted(e for p in before if (e := p + self._offset) < t)
        if shown_first and shown_first[0] <= last_kept:
            return False
        for earlier in shown_first:
            moved = self._next_due_after(earlier, last_kept, next_due)
            if moved is not None:
                last_kept, next_due = earlier, moved
        return last_kept < t and self._next_due_after(t, last_kept, next_due) is None

    def _best_effort(self, pts: float | None, dts: float | None) -> float | None:
        if pts is not None and not math.isfinite(pts):
            pts = None
        if dts is not None and not math.isfinite(dts):
            dts = None
        if pts is not None:
            if (self._last_pts is not None and pts <= self._last_pts) or (
                dts is not None and pts < dts
            ):
                self._faulty_pts += 1
            self._last_pts = pts
        never_dts = self._last_dts is None and dts is None
        if dts is not None:
            if self._last_dts is not None and dts <= self._last_dts:
                self._faulty_dts += 1
            self._last_dts = dts
        if pts is not None and (never_dts or self._faulty_pts <= self._faulty_dts):
            return pts
        return dts  # None here means: count frames

    def _effective(self, pts: float | None) -> float:
        step = 1.0 / self._source_rate
        if self._last is None:
            self._pending_gap = None
            if pts is None:
                return 0.0
            if self._zero_based:
                self._offset = -pts
            return pts + self._offset
        if self._pending_gap is not None:
            target = self._last + self._pending_gap
            self._pending_gap = None
            if pts is not None:
                self._offset = target - pts
            return target
        if pts is None:
            return self._last + step
        t = pts + self._offset
        if t < self._last - max(_RESET_SECONDS, 2 * self._interval):
            self._offset = self._last + step - pts
            t = self._last + step
        return t
