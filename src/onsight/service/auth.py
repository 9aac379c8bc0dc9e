"""Users, API tokens and sessions for `onsight serve` (login throttling: `throttle.py`).

Passwords are hashed with scrypt (stdlib, memory-hard). API tokens and session ids are random
256-bit values stored only as SHA-256: they carry full entropy, so a fast hash is enough and a
stolen database does not yield a usable credential. Nothing secret is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, get_args

from onsight.errors import OnsightError
from onsight.sqlite import connect, transaction, use_wal
from onsight.types import utc_iso

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # bounds the work a login request can ask for
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
_MAX_STORED_N = 2**20  # refuse hashes that would need more memory than we allow
TOKEN_PREFIX = "onsight_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
# Sliding sessions rewrite their expiry at most this often, not on every request.
_RENEW_STEP = timedelta(minutes=1)
# However often it is used, a session ends this long after its login (absolute lifetime).
SESSION_LIFETIME = timedelta(days=7)
_TOKEN_TOUCH_STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class User:
    name: str
    role: Role


@dataclass(frozen=True)
class Session:
    id: str  # the raw id: only the cookie holds it, the database keeps its SHA-256
    user: User
    csrf_token: str
    expires: datetime  # the idle expiry, never later than `not_after`
    not_after: datetime  # the absolute end: login time + lifetime
    renewed: bool = False  # `expires` moved on this read: the cookie's Max-Age should too


def _now() -> datetime:
    return datetime.now(UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str, n: int = SCRYPT_N) -> str:
    """`scrypt$n$r$p$salt_b64$hash_b64` for `password` (at least 10 characters)."""
    _check_password(password)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=_SCRYPT_MAXMEM,
        dklen=32,
    )
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches `encoded`; False for a wrong password or a malformed hash."""
    try:
        scheme, n_text, r_text, p_text, salt_b64, hash_b64 = encoded.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(hash_b64, validate=True)
    except ValueError:
        return False
    if scheme != "scrypt" or not (1 < n <= _MAX_STORED_N and 0 < r <= 32 and 0 < p <= 16):
        return False
    if len(password) > MAX_PASSWORD_LENGTH or not expected:
        return False
    try:
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=n,
            r=r,
            p=p,
            maxmem=_SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except ValueError:  # n not a power of two, or too much memory
        return False
    return hmac.compare_digest(actual, expected)


def check_name(name: str, what: str = "user") -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"invalid {what} name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"invalid role {role!r}: use one of {', '.join(ROLES)}")
    return role


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    last_used TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    expires TEXT NOT NULL,
    not_after TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user);
"""


class UserStore:
    """Dashboard users, API tokens and login sessions in one SQLite file (mode 0600).

    One connection shared by all threads under a lock; every method is a short statement.
    """

    def __init__(self, path: Path, scrypt_n: int = SCRYPT_N) -> None:
        self.path = path
        self._scrypt_n = scrypt_n
        self._lock = threading.Lock()
        # Created with mode 0600 by us, so it is never world-readable, even for a moment.
        self._db = connect(path, "users database", mode=0o600)
        try:
            use_wal(self._db, synchronous=None)  # synchronous: SQLite's default (FULL)
            self._db.executescript(_SCHEMA)
            self._add_session_lifetime()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise OnsightError(
                f"{path} is not an onsight users database (not a readable SQLite file: {exc})"
            ) from None
        # Hashed on first use: spends the same time on unknown user names as on known ones.
        self._dummy_hash: str | None = None

    def _add_session_lifetime(self) -> None:
        """Files from before absolute session lifetimes: their sessions end (log in again)."""
        columns = {str(r[1]) for r in self._db.execute("PRAGMA table_info(sessions)")}
        if "not_after" not in columns:
            with transaction(self._db):
                self._db.execute("DELETE FROM sessions")
                self._db.execute(
                    "ALTER TABLE sessions ADD COLUMN not_after TEXT NOT NULL DEFAULT ''"
                )

    # --- users ---------------------------------------------------------------------------

    def add_user(self, name: str, password: str, role: str) -> User:
        user = User(check_name(name), check_role(role))
        encoded = hash_password(password, n=self._scrypt_n)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO users VALUES (?,?,?,?)",
                    (name, user.role, encoded, utc_iso(_now())),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"user {name} already exists") from None
        return user

    def set_password(self, name: str, password: str) -> None:
        """A new password; every session of the user ends with the old one."""
        encoded = hash_password(password, n=self._scrypt_n)
        with self._lock, transaction(self._db):
            changed = self._db.execute(
                "UPDATE users SET password_hash = ? WHERE name = ?", (encoded, name)
            ).rowcount
            self._db.execute("DELETE FROM sessions WHERE user = ?", (name,))
        if not changed:
            raise ValueError(f"user {name} does not exist")

    def remove_user(self, name: str) -> None:
        # One transaction: the user and their sessions go together.
        with self._lock, transaction(self._db):
            removed = self._db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount
            self._db.execute("DELETE FROM sessions WHERE user = ?", (name,))
        if not removed:
            raise ValueError(f"user {name} does not exist")

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("SELECT name, role FROM users ORDER BY name").fetchall()
        return [User(str(name), check_role(str(role))) for name, role in rows]

    def has_users(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when `password` is theirs, else None (same scrypt cost either way)."""
        with self._lock:
            row = self._db.execute(
                "SELECT role, password_hash FROM users WHERE name = ?", (name,)
            ).fetchone()
        # scrypt runs outside the lock so one slow login does not stall other requests.
        if row is None:
            if self._dummy_hash is None:  # making it costs the same one scrypt
                self._dummy_hash = hash_password(secrets.token_urlsafe(16), n=self._scrypt_n)
            else:
                verify_password(password, self._dummy_hash)
            return None
        if not verify_password(password, str(row[1])):
            return None
        return User(name, check_role(str(row[0])))

    # --- API tokens ----------------------------------------------------------------------

    def add_token(self, name: str, role: str = "viewer") -> str:
        """Create a token and return it; only its SHA-256 is stored, so this is the only copy."""
        checked = check_role(role)
        check_name(name, "token")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO tokens VALUES (?,?,?,?,NULL)",
                    (name, checked, _sha256(token), utc_iso(_now())),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"token {name} already exists") from None
        return token

    def revoke_token(self, name: str) -> None:
        with self._lock:
            removed = self._db.execute("DELETE FROM tokens WHERE name = ?", (name,)).rowcount
        if not removed:
            raise ValueError(f"token {name} does not exist")

    def tokens(self) -> list[tuple[str, Role]]:
        with self._lock:
            rows = self._db.execute("SELECT name, role FROM tokens ORDER BY name").fetchall()
        return [(str(name), check_role(str(role))) for name, role in rows]

    def token_details(self) -> list[tuple[str, Role, str, str | None]]:
        """(name, role, created, last_used) per token, for listings."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, role, created, last_used FROM tokens ORDER BY name"
            ).fetchall()
        return [
            (str(n), check_role(str(r)), str(c), None if u is None else str(u))
            for n, r, c, u in rows
        ]

    def user_for_token(self, token: str, now: datetime | None = None) -> User | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        moment = now or _now()
        digest = _sha256(token)
        with self._lock:
            row = self._db.execute(
                "SELECT name, role, last_used FROM tokens WHERE token_sha256 = ?", (digest,)
            ).fetchone()
            if row is None:
                return None
            name, role, last_used = str(row[0]), str(row[1]), row[2]
            if last_used is None or _parse(str(last_used)) + _TOKEN_TOUCH_STEP <= moment:
                self._db.execute(
                    "UPDATE tokens SET last_used = ? WHERE token_sha256 = ?",
                    (utc_iso(moment), digest),
                )
        return User(f"token:{name}", check_role(role))

    # --- sessions ------------------------------------------------------------------------

    def create_session(
        self,
        user: User,
        ttl: timedelta,
        now: datetime | None = None,
        lifetime: timedelta = SESSION_LIFETIME,
    ) -> Session:
        """A new session that ends after `ttl` unused, or `lifetime` after now however used."""
        moment = now or _now()
        not_after = _round_ms(moment + lifetime)
        session = Session(
            id=secrets.token_urlsafe(32),
            user=user,
            csrf_token=secrets.token_urlsafe(32),
            expires=min(_round_ms(moment + ttl), not_after),
            not_after=not_after,
        )
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions (id_sha256, user, csrf, expires, not_after) "
                "VALUES (?,?,?,?,?)",
                (
                    _sha256(session.id),
                    user.name,
                    session.csrf_token,
                    utc_iso(session.expires),
                    utc_iso(not_after),
                ),
            )
        return session

    def session(
        self, session_id: str, ttl: timedelta, now: datetime | None = None
    ) -> Session | None:
        """The live session for `session_id`, its expiry pushed to now + ttl (never past its
        absolute end); else None.

        The role comes from the users table on every call, so a role change or a removed
        user takes effect at once.
        """
        if not session_id or len(session_id) > 200:
            return None
        moment = now or _now()
        key = _sha256(session_id)
        with self._lock:
            row = self._db.execute(
                "SELECT s.user, s.csrf, s.expires, s.not_after, u.role FROM sessions s "
                "LEFT JOIN users u ON u.name = s.user WHERE s.id_sha256 = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            name, csrf, expires_text, not_after_text, role = row
            expires, not_after = _parse(str(expires_text)), _parse(str(not_after_text))
            if min(expires, not_after) <= moment or role is None:
                self._db.execute("DELETE FROM sessions WHERE id_sha256 = ?", (key,))
                return None
            renewed = min(_round_ms(moment + ttl), not_after)
            moved = renewed - expires >= _RENEW_STEP
            if moved:
                self._db.execute(
                    "UPDATE sessions SET expires = ? WHERE id_sha256 = ?", (utc_iso(renewed), key)
                )
                expires = renewed
        user = User(str(name), check_role(str(role)))
        return Session(session_id, user, str(csrf), expires, not_after, renewed=moved)

    def end_session(self, session_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE id_sha256 = ?", (_sha256(session_id),))

    def end_sessions_of(self, user_name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE user = ?", (user_name,))

    def purge_expired_sessions(self, now: datetime | None = None) -> int:
        """Delete expired sessions (the text columns sort like the times they hold)."""
        stamp = utc_iso(now or _now())
        with self._lock:
            return int(
                self._db.execute(
                    "DELETE FROM sessions WHERE expires <= ? OR not_after <= ?", (stamp, stamp)
                ).rowcount
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _round_ms(moment: datetime) -> datetime:
    """The precision `utc_iso` stores, so a returned expiry equals the stored one."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
