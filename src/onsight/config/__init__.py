"""Configuration: schema and loader.

The names below load on first use, so that `onsight.config._base` (which the app modules'
config models build on) imports without pulling in the whole schema, which lists the apps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from onsight._lazy import lazy_exports

if TYPE_CHECKING:
    from onsight.config.loader import LoadedConfig, load_config
    from onsight.config.models import (
        CameraConfig,
        Config,
        DetectorConfig,
        LineConfig,
        ZoneConfig,
    )

_EXPORTS = {
    "CameraConfig": "onsight.config.models",
    "Config": "onsight.config.models",
    "DetectorConfig": "onsight.config.models",
    "LineConfig": "onsight.config.models",
    "ZoneConfig": "onsight.config.models",
    "LoadedConfig": "onsight.config.loader",
    "load_config": "onsight.config.loader",
}

__all__ = [
    "CameraConfig",
    "Config",
    "DetectorConfig",
    "LineConfig",
    "LoadedConfig",
    "ZoneConfig",
    "load_config",
]

__getattr__ = lazy_exports(_EXPORTS)
