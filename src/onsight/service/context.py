"""What the web service reads: one object every route module gets through `Web`."""

from __future__ import annotations

from dataclasses import dataclass, field

from onsight.config import LoadedConfig
from onsight.privacy.redact import Finders
from onsight.runtime import Runner
from onsight.service.auth import UserStore


@dataclass
class ServiceContext:
    """Everything the web service reads; `loaded` is replaced when the editor saves."""

    loaded: LoadedConfig
    runner: Runner
    users: UserStore
    finders: Finders  # for redaction (onsight.privacy.finders.ModelFinders)
    sinks: list[object] = field(default_factory=list)  # MQTT / webhook sinks, for /metrics
    secure_cookies: bool = False
    # Host names this server answers to beyond the config's server_names: the --host address.
    server_names: list[str] = field(default_factory=list)
