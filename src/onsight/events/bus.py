"""One event bus: producers publish, one writer thread hands batches to every sink.

Events are never dropped: a full queue blocks the producer, and each block is counted.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from typing import Protocol

from onsight.types import Event

log = logging.getLogger(__name__)
_STOP = object()


class Sink(Protocol):
    def write(self, events: Sequence[Event]) -> None: ...


class EventBus:
    def __init__(self, sinks: Sequence[Sink], max_pending: int = 10_000) -> None:
        self._sinks = list(sinks)
        self._queue: queue.Queue[Event | object] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self.published = 0
        self.blocked = 0
        self.failed_batches = 0
        self._thread.start()

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                self.blocked += 1
                self._queue.put(event)
            self.published += 1

    @property
    def pending(self) -> int:
        """Events published but not yet handed to the sinks."""
        return self._queue.qsize()

    def close(self) -> None:
        """Write everything pending, then stop the writer."""
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[Event] = []
            stop = item is _STOP
            if not stop:
                batch.append(item)  # type: ignore[arg-type]
            while not stop:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)  # type: ignore[arg-type]
            if batch:
                self._deliver(batch)
            if stop:
                return

    def _deliver(self, batch: list[Event]) -> None:
        for sink in self._sinks:
            try:
                sink.write(batch)
            except Exception:  # a sink failure must not stop the others or the pipeline
                self.failed_batches += 1
                log.exception(
                    "event sink %s failed on a batch of %d", type(sink).__name__, len(batch)
                )
