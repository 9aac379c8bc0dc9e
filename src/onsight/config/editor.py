"""Write one camera's app items (lines, zones, ...), or a new camera, into the YAML config.

The file is replaced atomically (temp file in the same folder, then `os.replace`) and only
after the new text passes the same validation as `onsight check`; the previous version is
kept as `<config>.bak`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from onsight.config._base import Polygon
from onsight.config.calibration import KEEP, CalibrationConfig
from onsight.config.loader import LoadedConfig, load_config
from onsight.config.secrets_file import secrets_path, write_secrets
from onsight.errors import ConfigError

_HEADER = (
    "# Written by the onsight dashboard editor; comments and formatting of the previous\n"
    "# version are in {backup}.\n"
)


def save_geometry(
    loaded: LoadedConfig,
    camera_name: str,
    sections: Mapping[str, Sequence[BaseModel]],
    ignore: list[Polygon] | None = None,
    calibration: CalibrationConfig | Literal["keep"] | None = KEEP,
) -> LoadedConfig:
    """Replace `camera_name`'s app items (section name -> items, e.g. {"lines": [...]}) and
    `ignore` areas (unless None) and calibration (unless KEEP; None removes it) in the
    config file and return it reloaded.

    The file is re-read as plain YAML, not taken from `loaded`, so `${ENV}` references stay
    references and no secret is ever written. PyYAML does not round-trip comments: comments
    and formatting are lost (a header line says where the backup with them is). Raises
    `ConfigError` (file untouched) when the result would not validate.
    """
    path = loaded.path
    names = [camera.name for camera in loaded.config.cameras]
    if camera_name not in names:
        raise ConfigError(f"{path}: no camera named {camera_name!r}")
    raw = _reread(path)
    entry = _camera_entry(raw, names.index(camera_name), path)
    for key, items in sections.items():
        _put(entry, key, [item.model_dump(exclude_defaults=True) for item in items])
    if ignore is not None:
        _put(entry, "ignore", [[list(p) for p in polygon] for polygon in ignore])
    if isinstance(calibration, CalibrationConfig):
        entry["calibration"] = calibration.model_dump()
    elif calibration is None:
        entry.pop("calibration", None)
    backup = path.with_name(path.name + ".bak")
    new = _replace_validated(path, _dump(raw, backup), backup)
    return LoadedConfig(config=new.config, path=path, secrets=new.secrets)


def add_camera(
    loaded: LoadedConfig, entry: Mapping[str, Any], secrets: Mapping[str, str]
) -> LoadedConfig:
    """Append a camera (`entry`: name, url with `${...}` for its password, purpose, fps) to
    the config file, its `secrets` to the secrets file beside it, and return the config
    reloaded. Raises `ConfigError` (nothing written) when the result would not validate."""
    path = loaded.path
    raw = _reread(path)
    cameras = raw.get("cameras") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(cameras, list):
        raise ConfigError(f"{path}: the config has no `cameras:` list to add to")
    cameras.append(dict(entry))
    backup = path.with_name(path.name + ".bak")
    new = _replace_validated(path, _dump(raw, backup), backup, secrets)
    return LoadedConfig(config=new.config, path=path, secrets=new.secrets)


def _reread(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot re-read the config: {exc}") from None


def _dump(raw: Any, backup: Path) -> str:
    body = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, default_flow_style=None)
    return _HEADER.format(backup=backup.name) + body


def _camera_entry(raw: Any, index: int, path: Path) -> dict[str, Any]:
    cameras = raw.get("cameras") if isinstance(raw, dict) else None
    if not isinstance(cameras, list) or index >= len(cameras):
        raise ConfigError(f"{path}: the cameras list changed on disk; reload and try again")
    entry = cameras[index]
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: cameras[{index}] is not a mapping")
    return entry


def _put(entry: dict[str, Any], key: str, items: list[Any]) -> None:
    if items:
        entry[key] = items
    else:
        entry.pop(key, None)


def _replace_validated(
    path: Path, text: str, backup: Path, secrets: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Validate `text` (with `secrets` added to the secrets file's values), then write
    `secrets` into the secrets file and `text` into `path`, keeping `backup`."""
    mode = stat.S_IMODE(path.stat().st_mode)  # keep e.g. 0600 on a config that holds secrets
    secrets_file = secrets_path(path)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        try:
            # Same folder, so relative paths (database, audit log) resolve as they will.
            environ = dict(os.environ) | dict(secrets or {})
            new = load_config(temp, environ, secrets_file=secrets_file)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(str(temp), str(path))) from None
        if secrets:
            write_secrets(secrets_file, secrets)
        shutil.copy2(path, backup)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _sync_folder(path.parent)
    return new


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); harmless where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
