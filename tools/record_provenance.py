#!/usr/bin/env python3
"""Write the provenance record of a run (commit, artifact sha256s, variables, versions, host, command)."""
import argparse
from pathlib import Path

from semask.core.cli import run
from semask.core.fsio import atomic_write_json
from semask.core.provenance import collect, parse_pairs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a run variable (repeatable)")
    p.add_argument("--file", action="append", default=[], metavar="ROLE=PATH", help="an artifact to hash (repeatable)")
    p.add_argument("--backend", required=True)
    p.add_argument("--provider", default=None)
    p.add_argument("--command", default="", help="the full command line that started the run")
    a = p.parse_args(argv)
    atomic_write_json(a.out, collect(parse_pairs(a.var, "--var"), parse_pairs(a.file, "--file"), a.command,
                                     a.backend, a.provider))
    return 0


if __name__ == "__main__":
    run(main)
