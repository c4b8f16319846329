"""Errors a user can act on.

Every error that reaches the command line is a :class:`GankitError`: the CLI prints its message as one
line and exits with its ``exit_code`` (2 for bad input such as config errors, 1 for failures at run time).
"""

from __future__ import annotations


class GankitError(Exception):
    """An error with a one-line message meant for the user."""

    exit_code = 1


class ConfigError(GankitError, ValueError):
    """Bad configuration: unknown key, wrong type, unknown registry name, malformed override."""

    exit_code = 2


class DataError(GankitError, ValueError):
    """Missing, empty, malformed or non-finite input data."""

    exit_code = 2


class CheckpointError(GankitError):
    """A checkpoint that is missing, truncated, foreign or unsafe to load."""

    exit_code = 2


class NonFiniteLossError(GankitError):
    """A loss became NaN or infinite; training stopped without overwriting the last good checkpoint."""


class TrainingInterrupted(GankitError):
    """Ctrl-C or SIGTERM: a checkpoint was written, the run can be resumed.

    The exit code is the shell's for the signal: 130 for SIGINT, 143 for SIGTERM.
    """

    def __init__(self, message: str, signum: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class WriteError(GankitError, OSError):
    """A file could not be written (disk full, no permission, ...); the previous version of it is intact.

    Also an :class:`OSError` (with the cause's ``errno``), so code that handles file-system errors keeps working.
    """

    def __str__(self) -> str:  # the one-line message, not OSError's "[Errno N] ..." form
        return str(self.args[0]) if self.args else ""
