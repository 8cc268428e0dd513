"""The atc / ais_bench knobs a user sets (PRECISION, PRECISION_V2, OP_SELECT_IMPLMODE, SOC, DEVICE), checked.

Why: atc and ais_bench reject a bad value only after the export, deep in their own logs (or, for SOC,
the kit would name a file after it); the kit checks against the documented values first and says which
variable to fix. The Makefile applies the same lists at parse time (spec.make_assignments).
"""
from __future__ import annotations

from semask.core.errors import KitError, not_one_of
from semask.spec import (ATC_PRECISION_MODES, ATC_PRECISION_MODES_V2, DEVICE_MAX, OP_SELECT_IMPLMODES, SOC_AUTO,
                         SOC_VERSIONS)


def check_precision(precision: str | None, precision_v2: str | None) -> None:
    """PRECISION xor PRECISION_V2, each from atc's documented values."""
    if precision and precision_v2:
        raise KitError(f"PRECISION={precision} and PRECISION_V2={precision_v2} cannot be combined (atc refuses "
                       "--precision_mode with --precision_mode_v2); unset one of them")
    if precision and precision not in ATC_PRECISION_MODES:
        raise KitError(not_one_of("PRECISION", precision, ATC_PRECISION_MODES, "atc --precision_mode takes these"))
    if precision_v2 and precision_v2 not in ATC_PRECISION_MODES_V2:
        raise KitError(not_one_of("PRECISION_V2", precision_v2, ATC_PRECISION_MODES_V2,
                                  "atc --precision_mode_v2 takes these"))


def check_implmode(mode: str | None) -> None:
    if mode and mode not in OP_SELECT_IMPLMODES:
        raise KitError(not_one_of("OP_SELECT_IMPLMODE", mode, OP_SELECT_IMPLMODES, "or leave it unset for atc's default"))


def soc_mistake(soc: str) -> str:
    """SOC outside atc's documented --soc_version names (`auto` reads the chip from npu-smi)."""
    return not_one_of("SOC", soc, (SOC_AUTO, *SOC_VERSIONS), "the documented atc --soc_version names; SOC=auto "
                      "reads the chip from npu-smi")


def check_soc(soc: str, allow_auto: bool = True) -> None:
    """SOC is `auto` or a documented --soc_version name."""
    if (allow_auto and soc == SOC_AUTO) or soc in SOC_VERSIONS:
        return
    raise KitError(soc_mistake(soc))


def check_device(device: int | str) -> int:
    """DEVICE is an NPU id 0..255 (what ais_bench --device accepts)."""
    try:
        value = int(str(device))
    except ValueError:
        value = -1
    if not 0 <= value <= DEVICE_MAX or str(device).strip() != str(value):
        raise KitError(f"DEVICE={device} is not a device id 0-{DEVICE_MAX}; use e.g. DEVICE=0")
    return value


def om_tag(soc: str, precision: str | None, precision_v2: str | None, implmode: str | None) -> str:
    """The part of an .om name after the ONNX stem: every atc knob that changes the compiled model."""
    tag = f"{soc}_{f'v2-{precision_v2}' if precision_v2 else precision}"
    return tag + (f"_{implmode}" if implmode else "")
