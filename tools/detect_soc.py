#!/usr/bin/env python3
"""Print the atc --soc_version for SOC (auto: read `npu-smi info`, e.g. 310P3 -> Ascend310P3)."""
import argparse

from semask.runtime.ascend import resolve_soc
from semask.core.devices import device_list_arg
from semask.runtime.ascend_knobs import check_soc
from semask.core.cli import run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--soc", default="auto")
    p.add_argument("--device", type=device_list_arg, default=[0], help="device ids; the OM serves the first one's chip")
    a = p.parse_args(argv)
    check_soc(a.soc)
    print(resolve_soc(a.soc, a.device)[0])
    return 0


if __name__ == "__main__":
    run(main)
