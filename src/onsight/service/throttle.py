"""Login throttling: failed logins per client address, per (address, user name), and a bound
on concurrent password checks.

An attempt is reserved before its password is checked, under one lock, so concurrent
requests cannot all pass a check that only one of them should pass: the reservation counts
as a failure until the check says otherwise. Each check runs scrypt (about 32 MiB), so at
most `concurrent` run at once; more are refused at once (429, retry in a second) rather than
queued on the server's threads.

- Per address: `per_minute` failures in a sliding minute, then 429 until the oldest leaves.
  IPv6 addresses count per /64, the block one client usually holds.
- Per (address, name): after `PAIR_FREE` failures, each further try waits twice as long as
  the one before (1 s, 2 s, 4 s ... up to 15 minutes); forgotten an hour after the last one.
  Nobody can lock a user out from their own address: there is no limit on a name alone.

A successful login clears its (address, name) delay and its own reservation, never the
address's other failures. Memory is bounded by `max_keys` per table.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

PAIR_FREE = 3
FIRST_DELAY = 1.0
MAX_DELAY = 15 * 60.0
PAIR_FORGET = 3600.0
BUSY_RETRY = 1  # seconds a client is told to wait when all password checks are running


@dataclass(frozen=True)
class Refused:
    """No password check now: try again after `retry_after` seconds (for Retry-After)."""

    retry_after: int
    busy: bool = False  # all password checks were running, nothing counted against anyone


def address_key(host: str) -> str:
    """The counting key of a client address: an IPv6 address counts as its /64."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass
class _Pair:
    failures: int
    last: float


class Attempt:
    """A reserved login attempt holding one password-check slot; settle it exactly once."""

    def __init__(self, limiter: LoginLimiter, address: str, name: str, stamp: float) -> None:
        self._limiter = limiter
        self._address = address
        self._name = name
        self._stamp = stamp
        self._settled = False

    def succeeded(self) -> None:
        self._settle(True)

    def failed(self) -> None:
        self._settle(False)

    def _settle(self, success: bool) -> None:
        if not self._settled:
            self._settled = True
            self._limiter._settle(self._address, self._name, self._stamp, success)


class LoginLimiter:
    WINDOW = 60.0

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
        concurrent: int = 2,
    ) -> None:
        if per_minute < 1 or concurrent < 1:
            raise ValueError("per_minute and concurrent must be at least 1")
        self.per_minute = per_minute
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._checks = threading.BoundedSemaphore(concurrent)
        self._addresses: OrderedDict[str, deque[float]] = OrderedDict()
        self._pairs: OrderedDict[tuple[str, str], _Pair] = OrderedDict()

    def attempt(self, host: str, name: str) -> Attempt | Refused:
        """Reserve one password check for `name` from client `host`, or say why not now."""
        address = address_key(host)
        with self._lock:
            now = self._clock()
            wait = max(self._address_wait(address, now), self._pair_wait(address, name, now))
            if wait > 0:
                return Refused(max(math.ceil(wait), 1))
            if not self._checks.acquire(blocking=False):
                return Refused(BUSY_RETRY, busy=True)
            self._record(address, name, now)
            return Attempt(self, address, name, now)

    def _address_wait(self, address: str, now: float) -> float:
        times = self._addresses.get(address)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.WINDOW:
            times.popleft()
        if not times:
            del self._addresses[address]
            return 0.0
        return times[0] + self.WINDOW - now if len(times) >= self.per_minute else 0.0

    def _pair_wait(self, address: str, name: str, now: float) -> float:
        pair = self._pairs.get((address, name))
        if pair is None:
            return 0.0
        if now - pair.last >= PAIR_FORGET:
            del self._pairs[(address, name)]
            return 0.0
        return pair.last + pair_delay(pair.failures) - now

    def _record(self, address: str, name: str, now: float) -> None:
        times = self._addresses.setdefault(address, deque())
        times.append(now)
        self._addresses.move_to_end(address)
        pair = self._pairs.setdefault((address, name), _Pair(0, now))
        pair.failures, pair.last = pair.failures + 1, now
        self._pairs.move_to_end((address, name))
        self._prune(now)

    def _settle(self, address: str, name: str, stamp: float, success: bool) -> None:
        with self._lock:
            if success:
                times = self._addresses.get(address)
                if times is not None and stamp in times:
                    times.remove(stamp)  # this attempt only, never the earlier failures
                self._pairs.pop((address, name), None)
        self._checks.release()

    def _prune(self, now: float) -> None:
        if len(self._addresses) > self._max_keys:
            for address in list(self._addresses):
                self._address_wait(address, now)  # drops addresses with no recent failure
        while len(self._addresses) > self._max_keys:
            self._addresses.popitem(last=False)
        while len(self._pairs) > self._max_keys:
            self._pairs.popitem(last=False)

    def failures(self, host: str) -> int:
        """Failures (and attempts in progress) of `host` in the last minute."""
        address = address_key(host)
        with self._lock:
            self._address_wait(address, self._clock())
            return len(self._addresses.get(address, ()))


def pair_delay(failures: int) -> float:
    """Seconds the next try of one (address, name) waits after its last failure."""
    if failures < PAIR_FREE:
        return 0.0
    return min(FIRST_DELAY * 2.0 ** min(failures - PAIR_FREE, 30), MAX_DELAY)
