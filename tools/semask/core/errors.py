"""One exception type for every mistake a user can make.

Tools catch it at the top (see `semask.core.cli.run`) and print a one-line message that names the
file or variable and says what to do, then exit non-zero. Anything else is a bug and keeps its
traceback. `not_one_of` and `not_positive_int` give each common mistake one message shape.
"""
from __future__ import annotations

from typing import Iterable


class KitError(Exception):
    """A user-facing error: the message names the culprit and the fix."""

    exit_code = 2


def not_one_of(name: str, value: object, choices: Iterable[object], hint: str = "") -> str:
    """The one message for a value outside its choices: `NAME=value is not one of: a b c[; hint]`.

    Printed as `error: <message>` (by semask.core.cli.run for a KitError, by the plan for its lines)."""
    text = f"{name}={value} is not one of: {' '.join(str(c) for c in choices)}"
    return f"{text}; {hint}" if hint else text


def not_positive_int(name: str, value: object, example: object) -> str:
    """The one message for a count that is not a positive integer: `NAME=value is not a positive integer;
    use e.g. NAME=example` (printed after `error: `, as `not_one_of`)."""
    return f"{name}={value} is not a positive integer; use e.g. {name}={example}"
