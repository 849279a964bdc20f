"""The one exception type for a user's mistake.

Raise `IntertaskError` with a single line that names the problem and the fix. The CLI prints it
as `error: <message>` and exits with status 2; anything else is a bug and keeps its traceback.
An error about one argument of the Python API gives its `parameter` and starts its message with that
name (`budget_steps must be >= 1, got 0`); the CLI shows the argument's flag there instead
(`--budget-steps must be >= 1, got 0`, `intertask.cli.cli_message`).
"""


class IntertaskError(Exception):
    """A problem with the user's input or environment, explained in one line; `parameter`: the API
    argument at fault, the first word of the message (None when no one argument is)."""

    def __init__(self, message: str, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter


def did_you_mean(name: str, choices) -> str:
    """Return ' (did you mean: a, b?)' for close matches of `name` in `choices`, else ''."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""
