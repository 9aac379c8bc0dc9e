"""Read a YAML config safely, expand ${ENV} secrets, validate, report errors with line numbers.

A `${NAME}` takes its value from the environment or, when the environment does not set it,
from the secrets file beside the config (`<config>.secrets.env`, see `secrets_file`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ValidationError

from onsight.config._base import NAME_RULE
from onsight.config.models import CameraConfig, Config
from onsight.config.secrets_file import SUFFIX, read_secrets, secrets_path
from onsight.errors import ConfigError
from onsight.ingest.urls import userinfo_span

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Loc = tuple[str | int, ...]
# Stands in for an unset ${ENV} when the caller never uses secrets (long enough for a
# webhook secret, URL-safe); never a real credential.
UNSET_SECRET = "onsight-unset-secret"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and where it came from (relative paths resolve against its folder)."""

    config: Config
    path: Path
    secrets: tuple[str, ...]  # values substituted from ${ENV}: never print these

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def with_paths(self, camera: CameraConfig) -> CameraConfig:
        """The camera with the file paths in its sections (the defect reference, the PPE
        model, the snapshot URL's `ca_file`) made absolute: relative ones are relative to
        the config file, wherever onsight runs."""
        if camera.ca_file is not None:
            camera = camera.model_copy(update={"ca_file": str(self.resolve(camera.ca_file))})
        inspection = camera.inspection
        if inspection is not None and inspection.reference is not None:
            reference = str(self.resolve(inspection.reference))
            inspection = inspection.model_copy(update={"reference": reference})
            camera = camera.model_copy(update={"inspection": inspection})
        ppe = camera.ppe
        if ppe is not None and ppe.model is not None:
            entry = next(m for m in self.config.models if m.name == ppe.model)
            update: dict[str, str] = {"path": str(self.resolve(entry.path))}
            if entry.classes_file is not None:
                update["classes_file"] = str(self.resolve(entry.classes_file))
            resolved = entry.model_copy(update=update)
            camera = camera.model_copy(
                update={"ppe": ppe.model_copy(update={"resolved_model": resolved})}
            )
        return camera

    @property
    def database_path(self) -> Path:
        return self.resolve(self.config.database or "onsight-data/onsight.db")


def load_config(
    path: Path,
    environ: dict[str, str] | None = None,
    *,
    require_secrets: bool = True,
    secrets_file: Path | None = None,
) -> LoadedConfig:
    """`require_secrets=False` (commands that never connect, like `audit show`): an unset
    ${ENV} becomes `UNSET_SECRET` instead of an error. Such a config must not be used to
    connect to anything or be saved. `${ENV}` values the environment lacks come from
    `secrets_file` (default: `<path>.secrets.env`, if it exists)."""
    config, secrets = load_model(
        path,
        Config,
        "a `cameras:` list",
        environ,
        require_secrets=require_secrets,
        secrets_file=secrets_file,
    )
    return LoadedConfig(config=config, path=path.resolve(), secrets=secrets)


def load_model(
    path: Path,
    model: type[M],
    needs: str,
    environ: dict[str, str] | None = None,
    *,
    require_secrets: bool = True,
    secrets_file: Path | None = None,
) -> tuple[M, tuple[str, ...]]:
    """Any config file (the site's, the fleet's) validated as `model`, with its ${ENV}
    secrets; `needs` says what an empty file lacks, e.g. "a `cameras:` list"."""
    env = dict(os.environ) if environ is None else environ
    env = read_secrets(secrets_file or secrets_path(path)) | env  # the environment wins
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    if not require_secrets:
        env = {name: UNSET_SECRET for name in _ENV_REF.findall(text)} | env
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if root is None:
        raise ConfigError(f"{path}:1: config is empty; it needs at least {needs}")
    lines = _line_numbers(root)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the config must be a mapping with {needs}")
    secrets: list[str] = []
    data = _expand_env(data, env, secrets, path, lines, ())
    try:
        # Files the config names (a camera's `ca_file`) are checked relative to its folder.
        config = model.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, lines)) from None
    return config, tuple(secrets)


def _expand_env(
    value: Any, env: dict[str, str], secrets: list[str], path: Path, lines: dict[Loc, int], loc: Loc
) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, env, secrets, path, lines, (*loc, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, env, secrets, path, lines, (*loc, i)) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        userinfo = userinfo_span(value)

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                where = f"{path}:{lines.get(loc, 1)}"
                raise ConfigError(
                    f"{where}: {_dotted(loc)}: environment variable {name} is not set "
                    f"(nor in {path.name}{SUFFIX} beside the config)"
                )
            secrets.append(env[name])
            if userinfo is not None and userinfo[0] <= match.start() < userinfo[1]:
                # A user or password in a URL: `@ / % :` in it must not end the user-info.
                # FFmpeg percent-decodes it again before authenticating.
                encoded = quote(env[name], safe="")
                if encoded != env[name]:
                    secrets.append(encoded)
                return encoded
            return env[name]

        return _ENV_REF.sub(substitute, value)
    return value


def _line_numbers(node: yaml.Node, loc: Loc = ()) -> dict[Loc, int]:
    """Map each path in the document to the 1-based line where its value starts."""
    found: dict[Loc, int] = {loc: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, child in node.value:
            child_loc = (*loc, key.value)
            found.update(_line_numbers(child, child_loc))
            found[child_loc] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            found.update(_line_numbers(child, (*loc, index)))
    return found


def _describe(exc: ValidationError, path: Path, lines: dict[Loc, int]) -> str:
    """One line for the first error: file:line: field: message (never the input value)."""
    error = exc.errors(include_input=False)[0]
    loc: Loc = tuple(error["loc"])
    line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), 1)
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; see README for the fields)"
    elif error["type"] == "missing":
        message = "required field is missing"
    elif error["type"] == "string_pattern_mismatch" and loc and loc[-1] in ("name", "site"):
        message = f"not a valid name: {NAME_RULE}"
    message = message.removeprefix("Value error, ")
    more = len(exc.errors())
    suffix = f" (and {more - 1} more error{'s' if more > 2 else ''})" if more > 1 else ""
    return f"{path}:{line}: {_dotted(loc) or 'config'}: {message}{suffix}"


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
