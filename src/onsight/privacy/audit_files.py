"""The two small files that live beside the audit log, outside its database.

``<audit_log>.key``: the HMAC-SHA256 key of the chain, 32 random bytes as hex, mode 0600,
made once at first start. Without it nobody can re-hash records that verify.
``<audit_log>.head``: the latest head this host saw (``SEQ:HASH``), so that `verify` can tell
when the newest records were deleted. The same text is published to the external witness.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from onsight.errors import OnsightError

log = logging.getLogger(__name__)

_KEY_BYTES = 32
_HEAD = re.compile(r"^(\d+):([0-9a-f]{64})$")


def key_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + ".key")


def head_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + ".head")


@dataclass(frozen=True)
class AuditHead:
    """The newest record of a log: its sequence number and hash."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> AuditHead:
        """``SEQ:HASH`` (as logged and published); ValueError says what is wrong."""
        found = _HEAD.match(text.strip().lower())
        if found is None:
            raise ValueError(
                f"not an audit head {text.strip()[:80]!r}: expected SEQ:HASH "
                "(a record number, a colon and 64 hex digits)"
            )
        return cls(int(found.group(1)), found.group(2))


def read_key(path: Path) -> bytes | None:
    """The key in `path`, or None when there is no such file."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise OnsightError(f"cannot read audit key {path}: {_why(exc)}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != _KEY_BYTES:
        raise OnsightError(f"audit key {path} is damaged (expected {_KEY_BYTES * 2} hex digits)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("audit key %s is readable by others (mode %o); chmod 600 it", path, mode)
    return key


def create_key(path: Path) -> bytes:
    """A new random key in a new file, mode 0600 from the start; the existing one if another
    process made it first."""
    key = secrets.token_bytes(_KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = read_key(path)
        assert existing is not None, "the key file vanished while it was being made"
        return existing
    except OSError as exc:
        raise OnsightError(f"cannot create audit key {path}: {_why(exc)}") from None
    try:
        os.write(fd, (key.hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("created audit key %s (keep it, and back it up apart from the log)", path)
    return key


def read_head(path: Path) -> AuditHead | None:
    """The head stored in `path`, or None when there is none yet."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise OnsightError(f"cannot read audit head {path}: {_why(exc)}") from None
    try:
        return AuditHead.parse(text)
    except ValueError as exc:
        raise OnsightError(f"audit head file {path}: {exc}") from None


def write_head(path: Path, head: AuditHead) -> None:
    """Replace the head file atomically (a crash leaves the old head or the new one)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{head}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        raise OnsightError(f"cannot write audit head {path}: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
