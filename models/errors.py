"""The model manager's error for requests that cannot be done; front ends show the message as is."""


class ModelManagerError(RuntimeError):
    """Something the person asked for cannot be done; the message says why in plain words."""
