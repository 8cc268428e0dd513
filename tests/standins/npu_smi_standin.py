"""Stand-in for `npu-smi info` (tests only): a realistic table; chip name from $STANDIN_NPU_CHIP.

$STANDIN_NPU_CARDS lists the chips on each card, comma-separated (default `1,1`: two single-chip cards,
devices 0 and 1). `2` is an Atlas 300I Duo: one NPU row followed by one chip row per chip, chips 0 and 1; `2,2` two Duo cards (devices 0-3). Each chip row's second column is its device id.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin_log import log_call  # noqa: E402

HEAD = """\
+--------------------------------------------------------------------------------------------------------+
| npu-smi 23.0.rc3                                 Version: 23.0.rc3                                     |
+-------------------------------+-----------------+------------------------------------------------------+
| NPU     Name                  | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |
| Chip    Device                | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |
+===============================+=================+======================================================+
"""
NPU_ROW = "| {npu:<8}{chip:<22}| OK              | NA           {temp:<18}0     / 0             |\n"
CHIP_ROW = "| {chip:<8}{device:<22}| 0000:{bus:02x}:00.0    | 0            {mem} / 21534                            |\n"
SEP = "+===============================+=================+======================================================+\n"
TAIL = """\
+-------------------------------+-----------------+------------------------------------------------------+
| NPU     Chip                  | Process id      | Process name             | Process memory(MB)        |
+===============================+=================+======================================================+
| No running processes found in NPU 0                                                                    |
+===============================+=================+======================================================+
"""


def table(chip_name: str, cards: list[int]) -> str:
    out, device = [HEAD], 0
    for npu, count in enumerate(cards):
        out.append(NPU_ROW.format(npu=npu, chip=chip_name, temp=42 - npu))
        for chip in range(count):
            out.append(CHIP_ROW.format(chip=chip, device=device, bus=0x82 + npu, mem=1782 - chip))
            device += 1
        out.append(SEP)
    return "".join(out) + TAIL


def main(argv: list[str]) -> None:
    log_call("npu-smi", ["npu-smi", *argv])
    if argv[:1] != ["info"]:
        print("Usage: npu-smi info [-t type] [-i id]", file=sys.stderr)
        sys.exit(1)
    cards = [int(n) for n in os.environ.get("STANDIN_NPU_CARDS", "1,1").split(",")]
    print(table(os.environ.get("STANDIN_NPU_CHIP", "310P3"), cards), end="")


if __name__ == "__main__":
    main(sys.argv[1:])
