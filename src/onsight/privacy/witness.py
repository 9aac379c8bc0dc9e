"""Publishing the audit log's head to witnesses outside the box's disk.

Every `interval` seconds (and when closed) the head ``SEQ:HASH`` goes to the log at INFO
(``audit head 42:ab12... (/path/audit.db)``) and to each publisher, e.g. the MQTT sink's
retained ``<prefix>/<site>/status/audit`` message. Someone who later deletes the newest
records cannot take back what a witness already saw: `onsight audit verify --head SEQ:HASH`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence

from onsight.errors import OnsightError
from onsight.privacy.audit import AuditLog
from onsight.privacy.audit_files import AuditHead

log = logging.getLogger(__name__)

Publisher = Callable[[bytes], None]


def head_message(head: AuditHead) -> bytes:
    """The JSON a witness keeps: ``{"seq": 42, "hash": "...", "head": "42:..."}``."""
    return json.dumps(
        {"seq": head.seq, "hash": head.hash, "head": str(head)}, separators=(",", ":")
    ).encode()


class AuditWitness:
    """A daemon thread that publishes the head of `audit`; `close` publishes it once more."""

    def __init__(
        self, audit: AuditLog, interval: float, publishers: Sequence[Publisher] = ()
    ) -> None:
        self._audit = audit
        self._interval = interval
        self._publishers = list(publishers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-witness", daemon=True)
        self.published: AuditHead | None = None

    def start(self) -> None:
        self._thread.start()

    def publish(self) -> AuditHead | None:
        """Publish the current head now (nothing for an empty log); never raises."""
        try:
            head = self._audit.head()
        except Exception as exc:  # a closed or broken log: the service keeps running
            log.error("audit witness: cannot read the head of %s: %s", self._audit.path, exc)
            return None
        if head is None:
            return None
        log.info("audit head %s (%s)", head, self._audit.path)
        message = head_message(head)
        for publish in self._publishers:
            try:
                publish(message)
            except (OnsightError, OSError, RuntimeError) as exc:
                log.error("audit witness: cannot publish the head: %s", exc)
        self.published = head
        return head

    def close(self) -> None:
        """Stop the thread and publish the final head."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.publish()

    def _run(self) -> None:
        self.publish()
        while not self._stop.wait(self._interval):
            self.publish()
