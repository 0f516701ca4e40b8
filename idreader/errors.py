"""Exception classes; each carries the process exit code the CLI uses for it."""

from __future__ import annotations


class IDReaderError(Exception):
    """Base class of every error idreader raises on purpose.

    Attributes
    ----------
    exit_code : int
        The exit status ``idreader`` ends with when this error stops it.
    """

    exit_code = 1


class InputError(IDReaderError):
    """An input file or page cannot be read (missing, unsupported, encrypted, corrupt)."""

    exit_code = 1


class ModelError(IDReaderError):
    """The ONNX model is missing, unreadable or does not match the expected contract."""

    exit_code = 1


class ConfigError(IDReaderError, ValueError):
    """An option has an invalid value (a usage error)."""

    exit_code = 2
