"""Camera URLs: what kind of source a URL names, and keeping its credentials secret.

Camera URLs often carry a user and password (``rtsp://admin:pw@10.0.0.5/stream``).
Neither may reach a log, an exception or the API, in plain or percent-encoded form.
FFmpeg (and PyAV, which puts the file name in every error) repeats the URL in its
messages, so besides `redact_url` there is `redact_text` for arbitrary text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Literal
from urllib.parse import quote, quote_plus, unquote

from onsight.errors import SourceError

SourceKind = Literal["file", "rtsp", "http", "v4l2"]

MASK = "***"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_V4L2_DEVICE = re.compile(r"^/dev/video\d+$")
# user-info inside any URL that appears in free text: scheme://USERINFO@
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#'\"]*)@")

_KINDS: dict[str, SourceKind] = {
    "file": "file",
    "rtsp": "rtsp",
    "rtsps": "rtsp",
    "http": "http",
    "https": "http",
    "v4l2": "v4l2",
}


def classify(url: str) -> SourceKind:
    """Return the kind of source `url` names.

    Plain paths (and ``file://``) are files, ``/dev/videoN`` and ``v4l2://...`` are
    V4L2 devices. Other schemes raise `SourceError` (with the URL redacted).
    """
    if _V4L2_DEVICE.match(url):
        return "v4l2"
    match = _SCHEME.match(url)
    if match is None:
        return "file"
    scheme = match.group(1).lower()
    kind = _KINDS.get(scheme)
    if kind is None:
        raise SourceError(
            f"unsupported source {redact_url(url)}: scheme {scheme!r} is not one of "
            "rtsp, rtsps, http, https, file, v4l2"
        )
    return kind


def userinfo_span(url: str) -> tuple[int, int] | None:
    """Where the user-info of ``scheme://userinfo@rest`` is (start, end), or None without.

    The authority ends at the first ``/``, ``?`` or ``#`` (as in FFmpeg's parser);
    the user-info is everything before the *last* ``@`` in it, so an unencoded ``@``
    in a password is still treated as part of the password. If the authority has no
    ``@`` but a later one follows a ``user:`` part (a password with an unencoded
    ``/``, ``?`` or ``#``), that is taken as the user-info: masking too much of a
    malformed URL is better than showing a password.
    """
    match = _SCHEME.match(url)
    if match is None:
        return None
    start = match.end()
    end = len(url)
    for sep in "/?#":
        pos = url.find(sep, start)
        if pos != -1:
            end = min(end, pos)
    at = url.rfind("@", start, end)
    if at == -1:
        at = url.rfind("@", end)
        if at == -1 or ":" not in url[start:at]:
            return None
    return start, at


def _split_userinfo(url: str) -> tuple[str, str, str] | None:
    """``scheme://userinfo@rest`` as its three parts (see `userinfo_span`), or None."""
    span = userinfo_span(url)
    if span is None:
        return None
    start, at = span
    return url[:start], url[start:at], url[at + 1 :]


def redact_url(url: str) -> str:
    """Replace the user and password of `url` with ``***``.

    >>> redact_url("rtsp://admin:p%40ss@10.0.0.5:554/h264")
    'rtsp://***:***@10.0.0.5:554/h264'
    """
    parts = _split_userinfo(url)
    if parts is None:
        return url
    prefix, userinfo, rest = parts
    masked = f"{MASK}:{MASK}" if ":" in userinfo else MASK
    return f"{prefix}{masked}@{rest}"


def url_secrets(url: str) -> tuple[str, ...]:
    """Every spelling of the credentials in `url` that could show up in a message.

    That is the password as written, percent-decoded and re-encoded (both ``quote``
    styles), and the whole user-info. The user name alone is not included: it is
    masked inside URLs but is too often a common word to scrub from free text.
    """
    parts = _split_userinfo(url)
    if parts is None:
        return ()
    userinfo = parts[1]
    found: set[str] = {userinfo, unquote(userinfo)}
    if ":" in userinfo:
        password = userinfo.split(":", 1)[1]
        plain = unquote(password)
        # surrogatepass: a malformed URL must not make redaction itself fail
        encoded = {
            quote(plain, safe="", errors="surrogatepass"),
            quote(plain, errors="surrogatepass"),
            quote_plus(plain, errors="surrogatepass"),
        }
        found.update({password, plain, *encoded})
    found.discard("")
    return tuple(sorted(found, key=len, reverse=True))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Scrub credentials from arbitrary text (an FFmpeg error, a log message).

    User-info in any URL in `text` is masked, then every occurrence of each secret
    (case-insensitively, longest first) is replaced with ``***``.
    """
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = re.sub(re.escape(secret), MASK, text, flags=re.IGNORECASE)
    return text


def _mask_userinfo(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    if userinfo in (MASK, f"{MASK}:{MASK}"):
        return match.group(0)
    masked = f"{MASK}:{MASK}" if ":" in userinfo else MASK
    return f"{match.group('scheme')}{masked}@"


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs the given secrets from every record passing through.

    Attach it to a handler (or to the ``libav`` logger when FFmpeg logging is enabled
    with ``av.logging.set_level``) to keep camera passwords out of third-party messages.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message, self._secrets)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
