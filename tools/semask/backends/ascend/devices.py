"""DEVICE: one NPU id, a list of them (`0,1`) or `all`, checked against the chips `npu-smi info` lists.

Why: an Atlas 300I Duo card carries two 310P3 chips and a server up to 8 cards; ais_bench runs several
devices itself (`--device 0,1`). A mistyped or absent id would only fail inside ais_bench after the export
and the compile, so the kit checks the list while make reads the Makefile. Standard library only: this
runs before `.venv` exists.

`npu-smi info` prints one NPU row (`| <npu> <Name> | <Health> | ...`) per card, followed by one chip row
(`| <chip> <Device> | <Bus-Id> | ...`) per chip on it; the Device column is the id `--device` takes.
Driver 24.x prints a Duo card as two NPU rows sharing one id, one chip row each; `npu-smi info -m`
lists NPU ID / Chip ID / Chip Logic ID / Chip Name (Mcu rows have logic id `-`) and is read when the table has no
chip rows. Ids follow ACL's numbering (issue 25 §4): ASCEND_RT_VISIBLE_DEVICES / ASCEND_VISIBLE_DEVICES pick and
order the chips ACL numbers from 0, and in a container (npu-smi shows the host's ids) the visible chips are numbered
0, 1, ... in order. npu-smi is a source of facts, not a gatekeeper: with an explicit SOC its failure (e.g. `dcmi
module initialize failed. ret is -8005`, exit 255, in containers and for users outside the driver's group) is one
warning and DEVICE is taken as given.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence

from semask.core.errors import KitError
from semask.spec import DEVICE_ALL, DEVICE_MAX

_NPU_ROW = re.compile(r"^\|\s*(\d+)\s+([A-Za-z0-9][A-Za-z0-9_-]*)\s*\|\s*[A-Za-z]")
_CHIP_ROW = re.compile(r"^\|\s*(\d+)\s+(\d+)\s*\|\s*[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:")


@dataclass(frozen=True)
class Chip:
    """One chip of `npu-smi info`: its card (NPU id), the card's chip Name, its index on the card, its device id."""

    npu: int
    name: str
    chip: int
    device: int
    host: Optional[int] = None  # the id npu-smi shows when ACL numbers the chip differently (container, visible list)


class DeviceError(KitError):
    """Every mistake in DEVICE, one line each (`lines`)."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__("\nerror: ".join(self.lines))


def parse_npu_smi_chips(text: str) -> List[Chip]:
    """The chips of an `npu-smi info` table, in the order listed."""
    chips: List[Chip] = []
    card: Optional[tuple] = None
    for line in text.splitlines():
        npu = _NPU_ROW.match(line)
        if npu:
            card = (int(npu.group(1)), npu.group(2))
            continue
        row = _CHIP_ROW.match(line)
        if row and card is not None:
            chips.append(Chip(card[0], card[1], int(row.group(1)), int(row.group(2))))
    return chips


_MAP_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+|-)\s+(.+?)\s*$")
NPU_SMI_FIX = ("npu-smi fails this way in some containers and for users outside the driver's group (`usermod -aG "
               "HwHiAiUser $USER`, then log in again)")


def parse_npu_smi_map(text: str) -> List[Chip]:
    """The chips of `npu-smi info -m` (NPU ID, Chip ID, Chip Logic ID, Chip Name; Mcu rows skipped)."""
    chips = []
    for line in text.splitlines():
        row = _MAP_ROW.match(line)
        if row and row.group(3) != "-" and not row.group(4).lower().startswith("mcu"):
            name = row.group(4).split()[-1]
            chips.append(Chip(int(row.group(1)), name, int(row.group(2)), int(row.group(3))))
    return chips


def acl_numbering(chips: Sequence[Chip], environ: Mapping[str, str]) -> List[Chip]:
    """The chips as ACL numbers them: the visible-devices list when set, else the listed chips from 0 in order."""
    visible_text = environ.get("ASCEND_RT_VISIBLE_DEVICES") or environ.get("ASCEND_VISIBLE_DEVICES") or ""
    visible = [int(v) for v in re.findall(r"\d+", visible_text)]
    by_id = {c.device: c for c in chips}
    if visible and all(v in by_id for v in visible):
        chosen = [by_id[v] for v in visible]
    else:  # no list, or a container that shows only its chips under the host's ids
        chosen = sorted(chips, key=lambda c: c.device)[:len(visible) or None]
    return [Chip(c.npu, c.name, c.chip, acl, None if acl == c.device else c.device) for acl, c in enumerate(chosen)]


def _npu_smi(exe: str, args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def npu_smi_chips(environ: Optional[Mapping[str, str]] = None) -> Optional[List[Chip]]:
    """The chips `npu-smi info` (else `info -m`) lists, in ACL's numbering; None when npu-smi is not on PATH;
    KitError when it fails."""
    exe = shutil.which("npu-smi")
    if exe is None:
        return None
    proc = _npu_smi(exe, ["info"])
    if proc.returncode != 0:
        raise KitError(f"`npu-smi info` failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()}; "
                       f"{NPU_SMI_FIX}")
    chips = parse_npu_smi_chips(proc.stdout)
    if not chips:
        mapped = _npu_smi(exe, ["info", "-m"])
        chips = parse_npu_smi_map(mapped.stdout) if mapped.returncode == 0 else []
    return acl_numbering(chips, os.environ if environ is None else environ)


def chips_for_run(soc: str) -> tuple:
    """(chips or None, warning or None) for a run: a failing npu-smi with an explicit SOC is a warning (DEVICE is
    then taken as given); with SOC=auto it is the refusal, since the chip can only come from npu-smi."""
    try:
        return npu_smi_chips(), None
    except KitError as exc:
        if soc == "auto":
            raise KitError(f"{exc}; or pass SOC=Ascend310P3 (or your chip) instead of SOC=auto") from None
        return None, (f"warning: {exc}; SOC={soc} is given, so the run goes on with DEVICE as given (ACL's numbering, "
                      "not checked against the chips)")


def chips_found(chips: Sequence[Chip]) -> str:
    """`0, 1 (310P3 on NPU 0)` style list of the device ids, for messages."""
    if not chips:
        return "none"
    return ", ".join(f"{c.device} ({c.name}, NPU {c.npu} chip {c.chip}{'' if c.host is None else f', npu-smi id {c.host}'})"
                     for c in chips)


def device_mistakes(value: str, chips: Optional[Sequence[Chip]]) -> tuple:
    """(device ids, mistakes): DEVICE parsed and checked; `chips` None means npu-smi is not available."""
    text = str(value).strip()
    if text == DEVICE_ALL:
        if chips is None:
            return [], [f"DEVICE={DEVICE_ALL} needs `npu-smi info` to list the chips, and npu-smi is not on PATH; "
                        "give the ids instead, e.g. DEVICE=0,1"]
        if not chips:
            return [], [f"DEVICE={DEVICE_ALL}: `npu-smi info` lists no chip; check the Ascend driver"]
        return [c.device for c in chips], []
    ids: List[int] = []
    mistakes: List[str] = []
    seen = set()
    listed = None if chips is None else {c.device for c in chips}
    where = "" if chips is None else f"; the chips npu-smi lists: {chips_found(chips)}"
    single = "," not in text
    for part in text.split(","):
        part = part.strip()
        what = f"DEVICE={value}" if single else f"DEVICE={value}: {part!r}"
        if not re.fullmatch(r"[0-9]+", part):
            mistakes.append(f"{what} is not a device id 0-{DEVICE_MAX}; use e.g. DEVICE=0, "
                            f"DEVICE=0,1 or DEVICE={DEVICE_ALL}{where}")
            continue
        dev = int(part)
        if dev > DEVICE_MAX:
            what = f"DEVICE={value}" if single else f"DEVICE={value}: {dev}"
            mistakes.append(f"{what} is not a device id 0-{DEVICE_MAX} (what ais_bench accepts){where}")
        elif dev in seen:
            mistakes.append(f"DEVICE={value}: device {dev} is listed twice; give each chip once{where}")
        elif listed is not None and dev not in listed:
            mistakes.append(f"DEVICE={value}: device {dev} is not a chip npu-smi lists{where}")
        else:
            ids.append(dev)
        seen.add(dev)
    return ids, mistakes


def resolve_devices(value: str, chips: Optional[Sequence[Chip]] = None, use_npu_smi: bool = True) -> List[int]:
    """DEVICE -> device ids (`all` -> every chip). Checked against npu-smi when it is on PATH (or `chips`).

    Raises DeviceError with one line per mistake.
    """
    if chips is None and use_npu_smi:
        chips = npu_smi_chips()
    ids, mistakes = device_mistakes(value, chips)
    if mistakes:
        raise DeviceError(mistakes)
    return ids


def device_list_arg(text: str) -> List[int]:
    """argparse type of the tools' --device: one id or a comma list (ids 0..DEVICE_MAX, each once; npu-smi was
    consulted when make read DEVICE)."""
    return resolve_devices(text, use_npu_smi=False)


def check_single_device(value: str, backend: str = "ort") -> int:
    """BACKEND=ort runs one device: refuse a list (or `all`) in one line; else the id 0..DEVICE_MAX."""
    text = str(value).strip()
    if text == DEVICE_ALL or "," in text:
        raise KitError(f"DEVICE={value} is a device list, which BACKEND={backend} does not take (ONNX Runtime runs one "
                       "device; no multi-device provider is tested); give one id, e.g. DEVICE=0, or use BACKEND=ascend")
    ids, mistakes = device_mistakes(text, None)
    if mistakes:
        raise DeviceError(mistakes)
    return ids[0]


def soc_of(devices: Sequence[int], chips: Sequence[Chip]) -> str:
    """The chip Name shared by `devices` (one OM serves one SoC); KitError when they differ or one is absent."""
    names = {}
    for dev in devices:
        found = [c for c in chips if c.device == dev]
        if not found:
            raise KitError(f"device {dev} is not a chip `npu-smi info` lists ({chips_found(chips)}); "
                           "pass SOC=Ascend310P3 (or your chip) or fix DEVICE")
        names[dev] = found[0].name
    if len(set(names.values())) > 1:
        shown = ", ".join(f"{d}: {n}" for d, n in names.items())
        raise KitError(f"DEVICE={','.join(map(str, devices))} mixes chips ({shown}); one OM is compiled for one SoC, "
                       "so run each kind of chip with its own DEVICE list")
    return names[devices[0]]
