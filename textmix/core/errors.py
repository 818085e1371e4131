"""One root for every error textmix reports to a user: the CLI prints these as one line (exit 2);
anything else is a bug and keeps its traceback.

Each message names the offending value and the fix.
"""

from __future__ import annotations

EXIT_INTERRUPTED = 130  # the exit status of a run stopped by SIGINT / SIGTERM after saving its state


class TextmixError(Exception):
    """Root of the errors a user can fix (bad recipe, missing data, run-directory state)."""


class RecipeError(TextmixError, ValueError):
    """A recipe is invalid; the message names the key and the fix."""


class DataError(TextmixError, ValueError):
    """A dataset, vectors or a data file cannot be found or read; the message says how to fix it."""


class ArgumentError(TextmixError, ValueError):
    """A command or function argument is out of range; the message names it and its valid range."""


class RunDirError(TextmixError):
    """The run directory is in a state the requested action cannot start from."""


class NonFiniteLossError(TextmixError):
    """The training loss became NaN or infinite."""


class HubError(TextmixError):
    """Uploading, downloading or loading a shared model failed; the message says why and what to do."""


class TrainingInterrupted(TextmixError):
    """SIGINT / SIGTERM arrived; state was saved and ``--resume`` continues the run."""
