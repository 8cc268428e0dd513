"""Shared entry-point glue: every tool is `argparse` + one call into the package via `run`."""
from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from semask.core.errors import KitError, not_positive_int
from semask.core.locks import ARTIFACTS_ENV, Refused, writer_lock


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Call `main`; turn a KitError into `error: <message>` on stderr and a non-zero exit.

    Under make (SEMASK_ARTIFACTS set by the Makefile), the step first takes ARTIFACTS' writer lock
    for its whole life (semask.core.locks.writer_lock says why).
    """
    artifacts = os.environ.get(ARTIFACTS_ENV)
    if artifacts:
        try:
            writer_lock(Path(artifacts))
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)
    try:
        code = main(argv)
    except KitError as exc:
        print(f"{getattr(exc, 'prefix', 'error')}: {exc}", file=sys.stderr)  # ledger.Changed: `changed: ...`
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(f"error: no space left on the device{where} ({exc.strerror}); nothing half-written was kept: free some "
              "space or set ARTIFACTS to a larger disk, then run the step again", file=sys.stderr)
        sys.exit(KitError.exit_code)
    sys.exit(code or 0)


def positive_int(name: str, example: int = 1) -> Callable[[str], int]:
    """argparse type for a strictly positive integer whose error names the variable."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise KitError(not_positive_int(name, text, example))
        return value

    return parse
