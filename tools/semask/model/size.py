"""The input sizes the exported model accepts, checked before any work (standard library only: the run's plan
checks HEIGHT and WIDTH with it at parse time, and the export again for callers that skip make)."""
from __future__ import annotations

from semask.core.errors import KitError, not_positive_int
from semask.spec import MIN_INPUT_SIDE


def check_size(height: int, width: int) -> None:
    """HEIGHT x WIDTH the exported model accepts: both sides >= MIN_INPUT_SIDE (any such size works: the
    patch embedding and the window partition pad, and the logits are resized back to the input)."""
    for name, value in (("HEIGHT", height), ("WIDTH", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise KitError(not_positive_int(name, value, 1024))
        if value < MIN_INPUT_SIDE:
            raise KitError(f"{name}={value} is below {MIN_INPUT_SIDE}: SeMask-FPN's deepest stage has stride "
                           f"{MIN_INPUT_SIDE} (4x4 patches, then three 2x2 merges), so each side must be at least "
                           f"{MIN_INPUT_SIDE} pixels; use {name}={MIN_INPUT_SIDE} or more (any size from there works)")
