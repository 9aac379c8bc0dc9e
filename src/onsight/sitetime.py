"""The site's time zone for the dashboard: its days, hours and shown times.

Stored times are always UTC. The dashboard's queries group by local day and hour with
SQLite's 'localtime' and format with Python's `astimezone()`; both follow the process's TZ,
so setting TZ once at start-up makes every page use the site's zone, also when the server
runs in UTC (a container, a cloud VM).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from onsight.errors import ConfigError

ZONEINFO = Path("/usr/share/zoneinfo")


def use_site_timezone(name: str | None) -> None:
    """Make `name` (an IANA zone, checked by the config) this process's local time."""
    if name is None:
        return
    if not (ZONEINFO / name).is_file():  # libc would silently fall back to UTC
        raise ConfigError(
            f"timezone {name!r}: not in the system's time zone database ({ZONEINFO}); "
            "install it (apt-get install tzdata)"
        )
    os.environ["TZ"] = name
    time.tzset()
