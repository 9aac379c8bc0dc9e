"""Privacy: the redaction choke point (every image that leaves goes through here)."""

from onsight.privacy.redact import redact_people, save_redacted

__all__ = ["redact_people", "save_redacted"]
