"""Privacy: the redaction choke point (every image that leaves goes through here). The names
load on first use, so the audit log and notice do not pull in the detectors. The `redact`
function is imported from `onsight.privacy.redact`: lazily, the package attribute of that
name would be the submodule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onsight._lazy import lazy_exports

if TYPE_CHECKING:
    from onsight.privacy.finders import ModelFinders
    from onsight.privacy.redact import Finders, Redaction, obliterate, save_redacted

_EXPORTS = {
    "ModelFinders": "onsight.privacy.finders",
    **dict.fromkeys(
        ("Finders", "Redaction", "obliterate", "save_redacted"), "onsight.privacy.redact"
    ),
}

__all__ = ["Finders", "ModelFinders", "Redaction", "obliterate", "save_redacted"]

__getattr__ = lazy_exports(_EXPORTS)
