"""Configuration: schema and loader."""

from onsight.config.loader import LoadedConfig, load_config
from onsight.config.models import CameraConfig, Config, DetectorConfig, LineConfig, ZoneConfig

__all__ = [
    "CameraConfig",
    "Config",
    "DetectorConfig",
    "LineConfig",
    "LoadedConfig",
    "ZoneConfig",
    "load_config",
]
