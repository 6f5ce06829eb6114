"""Engine failures that front ends turn into one-line messages."""


class EngineError(Exception):
    """Base class: str(err) is a complete one-line message for the user."""


class ModelError(EngineError):
    """The model spec can't be resolved or loaded (unknown id, unreadable file, offline hub)."""


class PromptTooLong(EngineError):
    """The prompt does not fit the model's context window."""
