"""The kit's one error type: a one-line message naming the file and field at fault."""


class VtkitError(Exception):
    """Bad input or an impossible request; `str(err)` is a complete one-line message."""

    def __init__(self, message: str, *, path=None, field=None):
        parts = []
        if path is not None:
            parts.append(str(path))
        if field is not None:
            parts.append(str(field))
        prefix = ": ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        super().__init__(" ".join(text.split()))
        self.path = path
        self.field = field
