"""Strict, code-free checkpoint loading for the kit's SeMask-FPN.

Official SeMask checkpoints are mmcv `.pth` files: a dict with `state_dict` and `meta` (and maybe
`optimizer`). `meta` can hold arbitrary pickled objects. We never execute pickled code: torch's
`weights_only` loader goes first, and if it refuses an unknown global we fall back to a restricted
unpickler that rebuilds only tensors, arrays and plain containers and turns every other object
into an inert placeholder (so odd `meta` never blocks loading, and never runs).
"""
from __future__ import annotations

import pickle
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Dict, Mapping, Optional

import numpy as np
import torch
from torch import nn

from semask.core.errors import KitError
from semask.core.fsio import sha256_file
from semask.spec import MODELS, Weights

RANDOM = "random"
DEFAULT_SEED = 20240601


# ---------------------------------------------------------------------------- restricted pickle
class _Opaque:
    """Stands in for any object the allowlist does not know; accepts and ignores everything."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> "_Opaque":
        return _Opaque(*args)


def _opaque_class(module: str, name: str) -> type:
    return type(f"Opaque[{module}.{name}]", (_Opaque,), {})


_ALLOWED = {
    ("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice"),
    ("builtins", "complex"), ("builtins", "bytearray"),
    ("_codecs", "encode"),  # protocol-2 pickles (torch.save's default) spell bytes as _codecs.encode(str, 'latin1')
    ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"), ("torch", "Size"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "ndarray"), ("numpy", "dtype"),
}
_TORCH_STORAGES = {f"{t}Storage" for t in ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool")}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or (module == "torch" and (name in _TORCH_STORAGES or isinstance(getattr(torch, name, None), torch.dtype))):
            return super().find_class(module, name)
        if module.startswith("numpy") and name.endswith("DType"):  # numpy 2 dtype classes
            return super().find_class(module, name)
        return _opaque_class(module, name)


class _RestrictedPickleModule:
    """A `pickle_module` for torch.load that only ever builds allowlisted objects."""

    Unpickler = _RestrictedUnpickler
    load = staticmethod(lambda fh, **kw: _RestrictedUnpickler(fh, **kw).load())
    __name__ = "semask_restricted_pickle"


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive (an .npz, a torch>=1.6 .pth); the second: empty
PICKLE_MAGIC = b"\x80"  # pickle protocol >= 2: a legacy (pre-zip) torch.save file starts with it
_FIX = "re-download it, re-create it, or point WEIGHTS at a valid .pth/.npz (or WEIGHTS=random)"


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise KitError(f"WEIGHTS file {path} cannot be read ({exc.strerror}); fix its permissions or {_FIX}") from None


def _head(fh: BinaryIO) -> bytes:
    """The first bytes of the open file, the handle rewound: the sniff and the read share one open."""
    head = fh.read(8)
    fh.seek(0)
    return head


def _shown(head: bytes) -> str:
    """The first bytes, for a message: what a text or HTML file starts with tells the user what it is."""
    return repr(head.decode("latin-1"))


def sniff_weights(path: Path, fh: Optional[BinaryIO] = None) -> None:
    """Refuse, in one line, a WEIGHTS file whose first bytes cannot be what its name says.

    Why: torch's and numpy's loaders answer a text file, an HTML error page or an empty file with
    KeyError / EOFError / BadZipFile tracebacks; the magic bytes say what is wrong before they run.
    `fh` (open on `path`): read the bytes from it, so the loader that follows needs no second open.
    """
    if fh is None:
        with _open(path) as own:
            head = _head(own)
    else:
        head = _head(fh)
    if not head:
        raise KitError(f"WEIGHTS file {path} is empty (0 bytes), so it is no checkpoint: an interrupted download "
                       f"or copy? {_FIX}")
    if path.suffix == ".npz":
        if not head.startswith(ZIP_MAGIC):
            raise KitError(f"WEIGHTS file {path} is not a zip archive (an .npz is one; this file starts with "
                           f"{_shown(head)}); {_FIX}")
    elif not head.startswith(ZIP_MAGIC + (PICKLE_MAGIC,)):
        raise KitError(f"WEIGHTS file {path} is not a torch checkpoint (neither a zip archive nor a pickle; it starts "
                       f"with {_shown(head)}, e.g. a text or HTML page saved under a .pth name); {_FIX}")


def _damaged(path: Path, exc: BaseException) -> KitError:
    detail = (str(exc).splitlines() or [""])[0][:200]
    return KitError(f"WEIGHTS file {path} is truncated or damaged ({exc.__class__.__name__}: {detail}); {_FIX}")


def _read_pth(path: Path, fh: BinaryIO) -> Any:
    try:
        return torch.load(fh, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # an object weights_only does not know (usually inside `meta`): use the placeholder loader
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise _damaged(path, exc) from None
    try:
        fh.seek(0)
        return torch.load(fh, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickleModule)
    except Exception as exc:  # noqa: BLE001 - any failure here means "not a checkpoint"
        raise KitError(f"WEIGHTS file {path} could not be unpickled safely ({exc.__class__.__name__}); "
                       "point WEIGHTS at an official SeMask .pth, a state-dict .pth or an .npz") from None


def _read_npz(path: Path, fh: BinaryIO) -> Dict[str, torch.Tensor]:
    """{key: tensor} from an .npz whose every member is a numeric .npy array (np.load hands any other member of
    the zip, say a text file, back as raw bytes, which torch cannot take)."""
    out: Dict[str, torch.Tensor] = {}
    try:
        with np.load(fh, allow_pickle=False) as npz:
            for key in npz.files:
                value = npz[key]
                if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                    what = f"{len(value)} raw bytes" if isinstance(value, bytes) else f"an array of {value.dtype}"
                    raise KitError(f"WEIGHTS file {path} is a zip but not an .npz of arrays (its member {key!r} is "
                                   f"{what}, not a numeric .npy); {_FIX}")
                out[key] = torch.from_numpy(np.array(value))
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise _damaged(path, exc) from None
    except (ValueError, OSError) as exc:
        raise KitError(f"WEIGHTS file {path} is not a valid .npz of arrays ({exc}); {_FIX}") from None
    return out


def read_state_dict(path: str | Path) -> Dict[str, torch.Tensor]:
    """Read a .pth (mmcv checkpoint or plain state dict) or .npz into {key: tensor}, no code run."""
    path = Path(path)
    if not path.is_file():
        raise KitError(f"WEIGHTS file {path} does not exist; run `make weights` or set WEIGHTS=<path> or WEIGHTS=random")
    with _open(path) as fh:  # one open: the sniff reads the first bytes, the loader the rest
        sniff_weights(path, fh)
        if path.suffix == ".npz":
            return _read_npz(path, fh)
        obj = _read_pth(path, fh)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    elif isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj:
        raise KitError(f"WEIGHTS file {path} holds no state dict (found {type(obj).__name__}); "
                       "point WEIGHTS at an official SeMask .pth")
    out: Dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            continue
        key = str(key)
        out[key[len("module."):] if key.startswith("module.") else key] = value
    if not out:
        raise KitError(f"WEIGHTS file {path} holds no tensors; point WEIGHTS at an official SeMask .pth")
    return out


# ---------------------------------------------------------------------------- variant matching
def _preset_shapes() -> Dict[str, Dict[str, tuple]]:
    """MODEL -> (key -> shape), built on the meta device (no memory, fast)."""
    from semask.model.network import SeMaskFPN, model_config

    shapes = {}
    with torch.device("meta"):
        for name in MODELS:
            shapes[name] = {k: tuple(v.shape) for k, v in SeMaskFPN(model_config(name)).state_dict().items()}
    return shapes


def guess_variant(state: Mapping[str, torch.Tensor]) -> str:
    """Describe which preset a state dict looks like, for error messages."""
    got = {k: tuple(v.shape) for k, v in state.items()}
    best, best_score = None, 0.0
    for name, want in _preset_shapes().items():
        hits = sum(1 for k, s in want.items() if got.get(k) == s)
        score = hits / max(len(want), len(got))
        if score > best_score:
            best, best_score = name, score
    if best is None or best_score < 0.5:
        return f"it does not look like any SeMask-FPN variant ({', '.join(MODELS)})"
    return f"it looks like MODEL={best} ({best_score:.0%} of entries match)"


def _mismatch_report(model_sd: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> list[str]:
    missing = [k for k in model_sd if k not in state]
    unexpected = [k for k in state if k not in model_sd]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in model_sd.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    lines = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            shown = ", ".join(items[:6]) + (f", ... ({len(items)} in all)" if len(items) > 6 else "")
            lines.append(f"{label}: {shown}")
    return lines


# ---------------------------------------------------------------------------- random weights
def random_state_dict(model: nn.Module, seed: int = DEFAULT_SEED) -> Dict[str, torch.Tensor]:
    """Seeded random weights that exercise every path (non-zero gamma, BN stats), NOT a trained model.

    Follows the golden vectors' recipe: one draw per floating entry in state_dict order.
    """
    gen = torch.Generator().manual_seed(seed)
    modules = dict(model.named_modules())
    out = {}
    for key, ref in model.state_dict().items():
        if not ref.is_floating_point():
            out[key] = ref.clone()
            continue
        shape = tuple(ref.shape)
        parent = key.rsplit(".", 1)[0]
        leaf = key.rsplit(".", 1)[-1]
        is_norm = isinstance(modules.get(parent), (nn.LayerNorm, nn.BatchNorm2d))
        if leaf == "running_mean":
            t = torch.randn(shape, generator=gen) * 0.1
        elif leaf == "running_var":
            t = torch.rand(shape, generator=gen) + 0.5
        elif is_norm and leaf == "weight":
            t = 1 + torch.randn(shape, generator=gen) * 0.1
        elif is_norm and leaf == "bias":
            t = torch.randn(shape, generator=gen) * 0.1
        elif leaf == "gamma":
            t = 0.5 + torch.randn(shape, generator=gen) * 0.1
        elif leaf == "relative_position_bias_table":
            t = torch.randn(shape, generator=gen) * 0.5
        elif leaf == "weight":
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
            t = torch.randn(shape, generator=gen) * fan_in**-0.5
        else:
            t = torch.randn(shape, generator=gen) * 0.05
        out[key] = t.to(ref.dtype)
    return out


def warn_random(seed: int) -> None:
    bar = "!" * 78
    print(f"{bar}\n!! WEIGHTS=random (seed {seed}): seeded random weights, NOT a trained model.\n"
          f"!! Use them for smoke runs and benchmarks only; any mIoU computed with them is meaningless.\n{bar}",
          file=sys.stderr)


# ---------------------------------------------------------------------------- public API
def load_weights(model: nn.Module, path: str | Path | Weights, seed: int = DEFAULT_SEED,
                 quiet: bool = False) -> Dict[str, Any]:
    """Load `path` (or the word `random`) into `model` strictly; return provenance facts.

    A missing or unexpected key, or a wrong shape, is a KitError that lists the offending names and
    says which variant the file looks like. Given a `Weights` with the sha256 the run's plan recorded,
    the file is opened once (read) and not hashed again; a bare path is hashed here.
    """
    known = path.sha256 if isinstance(path, Weights) else ""
    path = path.name if isinstance(path, Weights) else path
    if str(path) == RANDOM:
        model.load_state_dict(random_state_dict(model, seed), strict=True)
        if not quiet:
            warn_random(seed)
        return {"weights": RANDOM, "seed": seed, "sha256": f"random-seed-{seed}", "trained": False}
    path = Path(path)
    state = read_state_dict(path)
    model_sd = model.state_dict()
    problems = _mismatch_report(model_sd, state)
    if problems:
        want = getattr(getattr(model, "cfg", None), "embed_dim", "?")
        raise KitError(
            f"WEIGHTS file {path} does not fit the chosen MODEL (embed_dim {want}): " + "; ".join(problems)
            + f"; {guess_variant(state)}. Set MODEL to match the file, or WEIGHTS to the right checkpoint")
    check_finite(state, path, model_sd)
    check_index_buffers(state, path, model_sd)
    model.load_state_dict({k: state[k] for k in model_sd}, strict=True)
    return {"weights": str(path), "sha256": known or sha256_file(path), "trained": True}


INDEX_TABLES = {"relative_position_index": "relative_position_bias_table"}  # index buffer -> the table it indexes


def check_index_buffers(state: Mapping[str, torch.Tensor], path: Path, model_sd: Mapping[str, torch.Tensor]) -> None:
    """Refuse an index buffer (relative_position_index) of another shape, not integer, or pointing outside its
    table: the export would stop with a raw IndexError, or gather the wrong biases without a word."""
    for key, expected in model_sd.items():
        name = key.rsplit(".", 1)[-1]
        if name not in INDEX_TABLES:
            continue
        index, table = state[key], state.get(key[: -len(name)] + INDEX_TABLES[name])
        rows = table.shape[0] if table is not None else None
        why = None
        if tuple(index.shape) != tuple(expected.shape):
            why = f"has shape {list(index.shape)}, the model's is {list(expected.shape)}"
        elif index.is_floating_point() or index.is_complex():
            why = f"holds {index.dtype} values, not integers"
        elif index.numel() and rows is not None and (int(index.min()) < 0 or int(index.max()) >= rows):
            why = f"holds values from {int(index.min())} to {int(index.max())}, outside its table's 0..{rows - 1}"
        if why:
            raise KitError(f"WEIGHTS file {path}: the index buffer {key!r} {why}; the checkpoint is corrupt or edited: "
                           "re-download it or point WEIGHTS at a good file")


def check_finite(state: Mapping[str, torch.Tensor], path: Path, keys: Mapping[str, Any]) -> None:
    """Refuse NaN/Inf in the tensors the model uses: they export and run, giving a plausible table of garbage."""
    for key in keys:
        tensor = state[key]
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise KitError(f"WEIGHTS file {path} has non-finite values (NaN or Inf) in {key!r} ({bad} of {tensor.numel()}, "
                           "the first such tensor); the checkpoint is corrupt: re-download it or point WEIGHTS at a good file")
