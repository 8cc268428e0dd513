"""The atc / ais_bench knobs a user sets (PRECISION, PRECISION_V2, OP_SELECT_IMPLMODE, SOC, DEVICE), checked.

Why: atc and ais_bench reject a bad value only after the export, deep in their own logs (or, for SOC,
the kit would name a file after it); the kit checks against the documented values first and says which
variable to fix. The Makefile applies the same lists at parse time (spec.make_assignments).
"""
from __future__ import annotations

from semask.core.errors import KitError
from semask.spec import (ATC_PRECISION_MODES, ATC_PRECISION_MODES_V2, DEVICE_MAX, OP_SELECT_IMPLMODES, SOC_AUTO,
                         SOC_VERSIONS)


def check_precision(precision: str | None, precision_v2: str | None) -> None:
    """PRECISION xor PRECISION_V2, each from atc's documented values."""
    if precision and precision_v2:
        raise KitError(f"PRECISION={precision} and PRECISION_V2={precision_v2} cannot be combined (atc refuses "
                       "--precision_mode with --precision_mode_v2); unset one of them")
    if precision and precision not in ATC_PRECISION_MODES:
        raise KitError(f"PRECISION={precision} is not an atc --precision_mode; use one of: {', '.join(ATC_PRECISION_MODES)}")
    if precision_v2 and precision_v2 not in ATC_PRECISION_MODES_V2:
        raise KitError(f"PRECISION_V2={precision_v2} is not an atc --precision_mode_v2; use one of: "
                       f"{', '.join(ATC_PRECISION_MODES_V2)}")


def check_implmode(mode: str | None) -> None:
    if mode and mode not in OP_SELECT_IMPLMODES:
        raise KitError(f"OP_SELECT_IMPLMODE={mode} is not an atc --op_select_implmode; use one of: "
                       f"{', '.join(OP_SELECT_IMPLMODES)} (or leave it unset for atc's default)")


def check_soc(soc: str, allow_auto: bool = True) -> None:
    """SOC is `auto` or a documented --soc_version name."""
    if (allow_auto and soc == SOC_AUTO) or soc in SOC_VERSIONS:
        return
    raise KitError(f"SOC={soc} is not a documented atc --soc_version; use SOC=auto (read from npu-smi) or one of: "
                   f"{', '.join(SOC_VERSIONS)}")


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
