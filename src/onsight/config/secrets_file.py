"""The secrets file beside a config: `${NAME}` values kept out of the config itself.

`<config>.secrets.env` (e.g. `onsight.yaml.secrets.env`, mode 0600) holds one `NAME=value`
per line; blank lines and lines starting with `#` are ignored, and the value is everything
after the first `=`, verbatim (no quotes, no escapes). `load_config` reads it for the
`${NAME}` references that the environment does not set: environment variables win.

The dashboard's "Add camera" form writes it: the password of a camera URL is taken out
(`split_password`) and the config holds `${ONSIGHT_CAM_<NAME>_PASSWORD}` in its place.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

from onsight.errors import ConfigError
from onsight.ingest.urls import userinfo_span

SUFFIX = ".secrets.env"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def secrets_path(config: Path) -> Path:
    """Where the secrets file of `config` is: beside it, named `<config name>.secrets.env`."""
    return config.with_name(config.name + SUFFIX)


def read_secrets(path: Path) -> dict[str, str]:
    """The `NAME=value` pairs of a secrets file; {} when there is none. `ConfigError` (one
    line, never a value) for a file that cannot be read or a malformed line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the secrets file: {type(exc).__name__}") from None
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not _NAME.match(name):
            raise ConfigError(
                f"{path}:{number}: expected NAME=value (NAME: letters, digits and '_', "
                "not starting with a digit)"
            )
        found[name] = value
    return found


def write_secrets(path: Path, values: Mapping[str, str]) -> None:
    """Add or replace `values` in the secrets file, atomically, leaving it mode 0600."""
    for name, value in values.items():
        if not _NAME.match(name):
            raise ConfigError(f"{path}: {name!r} is not a valid secret name")
        if "\n" in value or "\r" in value:
            raise ConfigError(f"{path}: the value of {name} must be a single line")
    merged = read_secrets(path) | dict(values)
    body = "# Secrets for the config beside this file (NAME=value; keep this file 0600).\n"
    body += "".join(f"{name}={value}\n" for name, value in merged.items())
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:  # mkstemp files are 0600
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    os.chmod(path, 0o600)


class SplitUrl(NamedTuple):
    url: str  # the URL with `${variable}` in place of the password
    variable: str  # "" when the URL had no password
    password: str  # percent-decoded (the loader encodes it again); "" when none


def secret_name(camera: str, taken: Iterable[str] = ()) -> str:
    """`ONSIGHT_CAM_<NAME>_PASSWORD` for a camera name, with a number added if taken."""
    base = re.sub(r"[^A-Z0-9]", "_", camera.upper())
    used = set(taken)
    name, number = f"ONSIGHT_CAM_{base}_PASSWORD", 2
    while name in used:
        name, number = f"ONSIGHT_CAM_{base}_{number}_PASSWORD", number + 1
    return name


def split_password(url: str, variable: str) -> SplitUrl:
    """`rtsp://user:pw@host/x` as `rtsp://user:${variable}@host/x` and the password `pw`.

    A URL without a password (or with one that is already a `${...}` reference) is returned
    unchanged, with no variable.
    """
    span = userinfo_span(url)
    if span is None:
        return SplitUrl(url, "", "")
    start, at = span
    user, colon, password = url[start:at].partition(":")
    if not colon or not password or password.startswith("${"):
        return SplitUrl(url, "", "")
    reference = f"{url[:start]}{user}:${{{variable}}}{url[at:]}"
    return SplitUrl(reference, variable, unquote(password))
