"""One exception type for every mistake a user can make.

Tools catch it at the top (see `semask.core.cli.run`) and print a one-line message that names the
file or variable and says what to do, then exit non-zero. Anything else is a bug and keeps its
traceback.
"""


class KitError(Exception):
    """A user-facing error: the message names the culprit and the fix."""

    exit_code = 2
