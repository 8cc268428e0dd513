"""Stand-in for aclruntime (tests only), the C++ extension over AscendCL that ais_bench imports.

Env: STANDIN_ACLRUNTIME_MISSING=1 makes the import fail the way a shell without the CANN libraries
does (libascendcl.so not found), so tests can check the kit's probe message.
The chips are those the npu-smi stand-in lists ($STANDIN_NPU_CARDS, chips per card, default `1,1`: devices
0 and 1); `InferenceSession(model, device_id)` on any other device fails the way opening an absent device does.
"""
import os

if os.environ.get("STANDIN_ACLRUNTIME_MISSING"):
    raise ImportError("libascendcl.so: cannot open shared object file: No such file or directory")

__version__ = "0.0.2"


def _devices() -> int:
    return sum(int(n) for n in os.environ.get("STANDIN_NPU_CARDS", "1,1").split(","))


class InferenceSession:
    """Only what the stand-in ais_bench needs of the real class: opening the device fails when it is absent."""

    def __init__(self, model_path: str, device_id: int, options=None) -> None:
        if not 0 <= int(device_id) < _devices():
            print(f"[ERROR] acl open device {device_id} failed")
            raise RuntimeError(f"acl open device {device_id} failed")
        self.model_path, self.device_id = model_path, int(device_id)
