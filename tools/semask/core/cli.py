"""Shared entry-point glue: every tool is `argparse` + one call into the package via `run`."""
from __future__ import annotations

import sys
from typing import Callable, Sequence

from semask.core.errors import KitError


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Call `main`; turn a KitError into `error: <message>` on stderr and a non-zero exit."""
    try:
        code = main(argv)
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def positive_int(name: str) -> Callable[[str], int]:
    """argparse type for a strictly positive integer whose error names the variable."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise KitError(f"{name}={text!r} is not an integer; give a whole number >= 1") from None
        if value < 1:
            raise KitError(f"{name}={value} must be >= 1")
        return value

    return parse
