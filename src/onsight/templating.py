"""One Jinja2 setup for every HTML page onsight renders: autoescaped, strict about names."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined


@lru_cache(maxsize=4)
def templates(package: str) -> Environment:
    """The environment for `<package>/templates`."""
    return Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
