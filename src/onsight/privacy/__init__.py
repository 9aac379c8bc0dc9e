"""Privacy: the redaction choke point (every image that leaves goes through here)."""

from onsight.privacy.finders import ModelFinders
from onsight.privacy.redact import Finders, Redaction, obliterate, redact, save_redacted

__all__ = ["Finders", "ModelFinders", "Redaction", "obliterate", "redact", "save_redacted"]
