"""Stand-ins log each invocation (one JSON line) to $STANDIN_LOG so tests can check exact argv."""
from __future__ import annotations

import json
import os


def log_call(tool: str, argv: list[str]) -> None:
    path = os.environ.get("STANDIN_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"tool": tool, "argv": argv, "cwd": os.getcwd()}) + "\n")
