"""Stand-in for `npu-smi info` (tests only): a realistic table; chip name from $STANDIN_NPU_CHIP."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin_log import log_call  # noqa: E402

TABLE = """\
+--------------------------------------------------------------------------------------------------------+
| npu-smi 23.0.rc3                                 Version: 23.0.rc3                                     |
+-------------------------------+-----------------+------------------------------------------------------+
| NPU     Name                  | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |
| Chip    Device                | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |
+===============================+=================+======================================================+
| 0       {chip:<22}| OK              | NA           42                0     / 0             |
| 0       0                     | 0000:82:00.0    | 0            1782 / 21534                            |
+===============================+=================+======================================================+
| 1       {chip:<22}| OK              | NA           40                0     / 0             |
| 0       1                     | 0000:83:00.0    | 0            1781 / 21534                            |
+===============================+=================+======================================================+
+-------------------------------+-----------------+------------------------------------------------------+
| NPU     Chip                  | Process id      | Process name             | Process memory(MB)        |
+===============================+=================+======================================================+
| No running processes found in NPU 0                                                                    |
+===============================+=================+======================================================+
"""


def main(argv: list[str]) -> None:
    log_call("npu-smi", ["npu-smi", *argv])
    if argv[:1] != ["info"]:
        print("Usage: npu-smi info [-t type] [-i id]", file=sys.stderr)
        sys.exit(1)
    print(TABLE.format(chip=os.environ.get("STANDIN_NPU_CHIP", "310P3")), end="")


if __name__ == "__main__":
    main(sys.argv[1:])
