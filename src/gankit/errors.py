"""Errors a user can act on.

Every error that reaches the command line is a :class:`GankitError`: the CLI prints its message as one
line and exits with its ``exit_code`` (2 for bad input such as config errors, 1 for failures at run time).
"""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_MESSAGE = 2000  # characters; a hostile value cannot make an error message a wall of text


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or (
        f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")


def first_line(exc: BaseException) -> str:
    """The first line of a (library's) exception message, for a one-line error; its type name when empty."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class GankitError(Exception):
    """An error with a one-line message meant for the user.

    The message is shown as given, except that control characters (newlines, terminal escapes) that a
    user's value or file name may carry are escaped (``\\n``) and it is cut to MAX_MESSAGE characters:
    it stays one line whatever the input.
    """

    exit_code = 1

    def __str__(self) -> str:
        text = str(self.args[0]) if len(self.args) == 1 else Exception.__str__(self)
        text = _UNPRINTABLE.sub(_escape, text)
        return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


class ConfigError(GankitError, ValueError):
    """Bad configuration: unknown key, wrong type, unknown registry name, malformed override."""

    exit_code = 2


class DataError(GankitError, ValueError):
    """Missing, empty, malformed or non-finite input data."""

    exit_code = 2


class TooFewSamples(DataError):
    """Too few samples for a metric to mean anything (FID with fewer samples than feature dimensions):
    an explicitly requested metric raises it; ``"auto"`` leaves that metric out with a warning."""


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

    Also an :class:`OSError` (with the cause's ``errno``), so code that handles file-system errors keeps
    working; its text is the one-line message, not OSError's "[Errno N] ..." form.
    """
