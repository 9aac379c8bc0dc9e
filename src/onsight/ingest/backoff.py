"""Capped exponential backoff between reconnect attempts to a live camera."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Delay before reconnect attempt n (0-based): ``min(cap, initial * factor**n)``.

    With ``jitter`` j > 0 the delay is scaled by a random factor in ``[1 - j, 1]``, so
    cameras that dropped together (a switch reboot) do not reconnect in lockstep.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.cap < 0:
            raise ValueError("backoff delays must not be negative")
        if self.factor < 1:
            raise ValueError("backoff factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("backoff jitter must be between 0 and 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before the 0-based `attempt`."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        if self.initial == 0:
            return 0.0
        try:
            base = min(self.cap, self.initial * self.factor**attempt)
        except OverflowError:  # a long outage: factor**attempt no longer fits a float
            base = self.cap
        if self.jitter and base:
            draw = (rng or random.Random()).random()
            base *= 1.0 - self.jitter * draw
        return base


class Backoff:
    """Stateful use of a `BackoffPolicy`: one instance per source connection loop."""

    def __init__(
        self, policy: BackoffPolicy | None = None, rng: random.Random | None = None
    ) -> None:
        self.policy = policy or BackoffPolicy()
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """Number of delays handed out since the last reset."""
        return self._attempt

    def next_delay(self) -> float:
        """Delay for the next attempt; each call moves one step up the sequence."""
        delay = self.policy.delay(self._attempt, self._rng)
        self._attempt += 1
        return delay

    def reset(self) -> None:
        """Start again at the initial delay (call after a successful frame)."""
        self._attempt = 0
