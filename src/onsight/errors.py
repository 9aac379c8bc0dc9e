"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""


class OnsightError(Exception):
    """Base class: the message is shown to the user as is, so it must be clear and secret-free."""


class ConfigError(OnsightError):
    """The configuration file is missing, malformed or invalid."""


class ModelError(OnsightError):
    """A model is unknown, missing, or its weights fail verification."""


class SourceError(OnsightError):
    """A camera or file cannot be opened or decoded."""
