"""Stand-in for `npu-smi info` (tests only): a realistic table; chip name from $STANDIN_NPU_CHIP.

$STANDIN_NPU_CARDS lists the chips on each card, comma-separated (default `1,1`: two single-chip cards,
devices 0 and 1). `2` is an Atlas 300I Duo: one NPU row followed by one chip row per chip, chips 0 and 1;
`2,2` two Duo cards (devices 0-3). Each chip row's second column is its device id.

Issue 25 §4: STANDIN_NPU_DRIVER=24 prints a Duo card the driver 24.x way (two NPU rows sharing one id, one chip row
each); STANDIN_NPU_HOST_FIRST=<n> is a container's view (npu-smi shows the host's ids, the first chip being n, while
ACL numbers the visible chips from 0); `npu-smi info -m` lists NPU ID / Chip ID / Chip Logic ID / Chip Name with an
Mcu row per card; STANDIN_NPU_SMI_FAIL=1 fails as in a container or for a user outside the driver's group
(`dcmi module initialize failed. ret is -8005`, exit 255).
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


def table(chip_name: str, cards: list[int], first: int = 0, driver24: bool = False) -> str:
    out, device = [HEAD], first
    for npu, count in enumerate(cards, start=first):
        for chip in range(count):
            if chip == 0 or driver24:  # driver 24.x: one NPU row (same id) above each chip row of a Duo card
                out.append(NPU_ROW.format(npu=npu, chip=chip_name, temp=42 - npu))
            out.append(CHIP_ROW.format(chip=chip, device=device, bus=0x82 + npu, mem=1782 - chip))
            device += 1
            if driver24 and chip < count - 1:
                out.append(SEP)
        out.append(SEP)
    return "".join(out) + TAIL


def id_map(chip_name: str, cards: list[int], first: int = 0) -> str:
    """`npu-smi info -m`: one row per chip and an Mcu row per card (logic id `-`)."""
    row = "\t{:<31}{:<31}{:<31}{}\n"
    out, device = [row.format("NPU ID", "Chip ID", "Chip Logic ID", "Chip Name")], first
    for npu, count in enumerate(cards, start=first):
        for chip in range(count):
            out.append(row.format(npu, chip, device, f"Ascend {chip_name}"))
            device += 1
        out.append(row.format(npu, count, "-", "Mcu"))
    return "".join(out)


def main(argv: list[str]) -> None:
    log_call("npu-smi", ["npu-smi", *argv])
    if argv[:1] != ["info"]:
        print("Usage: npu-smi info [-t type] [-i id]", file=sys.stderr)
        sys.exit(1)
    if os.environ.get("STANDIN_NPU_SMI_FAIL"):
        print("dcmi module initialize failed. ret is -8005")
        sys.exit(255)
    cards = [int(n) for n in os.environ.get("STANDIN_NPU_CARDS", "1,1").split(",")]
    chip, first = os.environ.get("STANDIN_NPU_CHIP", "310P3"), int(os.environ.get("STANDIN_NPU_HOST_FIRST", "0"))
    if argv[1:] == ["-m"]:
        print(id_map(chip, cards, first), end="")
        return
    driver24 = os.environ.get("STANDIN_NPU_DRIVER") == "24"
    text = table(chip, cards, first, driver24)
    print(text.replace("23.0.rc3", "24.1.rc2") if driver24 else text, end="")


if __name__ == "__main__":
    main(sys.argv[1:])
