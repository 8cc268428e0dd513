"""Crosscheck steps that need no model: the kit's preprocessing and labels vs upstream's own code, exact.

- preprocess: noisy frames at the model size and at odd sizes that upstream's keep-ratio Resize
  maps onto it (plus the crosscheck's Cityscapes frames, if any) go through upstream's own test
  pipeline (LoadImageFromFile + the Cityscapes config's MultiScaleFlipAug/Resize/Normalize/
  ImageToTensor, img_scale set to (WIDTH, HEIGHT)) in env/upstream/venv and through the kit's bins
  code; every value must be bit-identical.
- labels: synthetic polygon JSONs (the kit's synthetic scenes plus irregular polygons, whose edges
  are where drawing libraries disagree) are converted by upstream's unmodified
  tools/convert_datasets/cityscapes.py in env/upstream/venv and by the kit's prepare_labels; every
  pixel must be equal, or the failure names the frame and how many pixels differ.

The upstream halves run as `python -m semask.evaluate.upstream.checks --preprocess|--labels SPEC.json`;
like semask.evaluate.upstream.worker, this module imports only the standard library and numpy at import
time so it loads in both venvs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[4]  # the checkout (tools/semask/evaluate/upstream/<this file>)
CONVERTER = Path("tools") / "convert_datasets" / "cityscapes.py"  # under SeMask-FPN/
PIPELINE_CONFIG = "tiny"  # the four Cityscapes configs share one test pipeline; `reduced` has no config
LABEL_FRAMES = 3


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------
def probe_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Source sizes for the preprocess check: the model size, then sizes upstream's keep-ratio Resize
    maps exactly onto it (half size, ~0.98x as 1000x2000 -> 1024x2048, and odd 1025x2051-like)."""
    from semask.data.bins import rescaled_size

    candidates = [(height, width), (height // 2, width // 2), (height * 125 // 128, width * 125 // 128),
                  (height + 1, width + 3)]
    sizes: list[tuple[int, int]] = []
    for h, w in candidates:
        if h >= 8 and w >= 8 and (h, w) not in sizes and rescaled_size(h, w, height, width) == (height, width):
            sizes.append((h, w))
    return sizes


def write_probe_images(folder: Path, height: int, width: int, seed: int = 0) -> list[Path]:
    """One uniform-noise PNG per probe size (every uint8 value in every channel), deterministic."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for h, w in probe_sizes(height, width):
        img = np.random.default_rng([seed, h, w]).integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = folder / f"probe_{h}x{w}.png"
        if not cv2.imwrite(str(path), img):
            raise OSError(f"cv2 could not write {path}")
        paths.append(path)
    return paths


def kit_bin(path: Path, height: int, width: int) -> np.ndarray:
    """(1, 3, H, W) float32: exactly what `make bins` writes for this image file."""
    from semask.data.bins import fit, read_bgr, to_nchw

    return to_nchw(fit(read_bgr(path), height, width, str(path)), "float32")


def add_irregular_polygons(polygons_json: Path, seed: int, count: int = 12) -> None:
    """Draw `count` random many-sided polygons over a frame's objects: slanted edges everywhere."""
    data = json.loads(polygons_json.read_text(encoding="utf-8"))
    h, w = int(data["imgHeight"]), int(data["imgWidth"])
    rng = np.random.default_rng([seed, h, w, len(data["objects"])])
    labels = ("road", "car", "person", "vegetation", "building", "sky", "pole", "bicycle")
    for _ in range(count):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        n = int(rng.integers(3, 12))
        pts = [[int(round(cx + rng.uniform(-0.25, 0.25) * w)), int(round(cy + rng.uniform(-0.25, 0.25) * h))]
               for _ in range(n)]
        data["objects"].append({"label": labels[int(rng.integers(len(labels)))], "polygon": pts})
    polygons_json.write_text(json.dumps(data), encoding="utf-8")


def make_label_frames(root: Path, num: int, height: int, width: int, seed: int = 0) -> list[str]:
    """A synthetic Cityscapes root whose polygon JSONs carry irregular polygons; returns frame ids."""
    from semask.data.cityscapes import POLYGONS_SUFFIX
    from semask.data.synthetic import frame_name, make_synthetic

    fids = make_synthetic(root, num, (height, width), seed=seed, jobs=1)
    for i, fid in enumerate(fids):
        city, _ = frame_name(i)
        add_irregular_polygons(root / "gtFine" / "val" / city / f"{fid}{POLYGONS_SUFFIX}", seed + i)
    return fids


# ----------------------------------------------------------------------------------------------
# Comparisons (pure)
# ----------------------------------------------------------------------------------------------
def compare_arrays(name: str, kit: np.ndarray, upstream: np.ndarray) -> dict[str, Any]:
    """Exact comparison of one image's arrays: shapes and how many values differ."""
    kit, upstream = np.asarray(kit), np.asarray(upstream)
    if kit.shape != upstream.shape:
        return {"name": name, "kit_shape": list(kit.shape), "upstream_shape": list(upstream.shape),
                "differing": None, "max_abs_diff": None}
    differ = kit != upstream
    n = int(differ.sum())
    diff = float(np.abs(kit.astype(np.float64) - upstream.astype(np.float64)).max()) if n else 0.0
    return {"name": name, "shape": list(kit.shape), "differing": n, "max_abs_diff": diff}


def exact_failures(what: str, results: Sequence[dict[str, Any]], unit: str) -> list[str]:
    """One failure per image that is not identical, naming it and the count (or the shapes)."""
    out = []
    for r in results:
        if r.get("missing"):
            out.append(f"{what} {r['name']}: the {r['missing']} file is missing or unreadable")
        elif r["differing"] is None:
            out.append(f"{what} {r['name']}: kit shape {r['kit_shape']} vs upstream {r['upstream_shape']}")
        elif r["differing"]:
            out.append(f"{what} {r['name']}: {r['differing']} {unit} differ")
    return out


def compare_label_dirs(kit_dir: Path, upstream_dir: Path, rel_paths: Sequence[str]) -> list[dict[str, Any]]:
    """Pixel-exact comparison of labelTrainIds PNGs with the same relative paths under two folders."""
    import cv2

    results = []
    for rel in rel_paths:
        kit = cv2.imread(str(Path(kit_dir) / rel), cv2.IMREAD_UNCHANGED)
        up = cv2.imread(str(Path(upstream_dir) / rel), cv2.IMREAD_UNCHANGED)
        name = Path(rel).name
        if kit is None or up is None:
            missing = "kit" if kit is None else "upstream"
            results.append({"name": name, "kit_shape": None if kit is None else list(kit.shape),
                            "upstream_shape": None if up is None else list(up.shape), "differing": None,
                            "max_abs_diff": None, "missing": missing})
            continue
        results.append(compare_arrays(name, kit, up))
    return results


def preprocess_line(results: Sequence[dict[str, Any]], sizes: Sequence[str]) -> str:
    if exact_failures("", results, ""):
        bad = sum(1 for r in results if r["differing"] != 0)
        return f"preprocess: DIFFERENT in {bad} of {len(results)} images"
    return f"preprocess: bit-identical ({len(results)} images, sizes {', '.join(sizes)})"


def labels_line(results: Sequence[dict[str, Any]]) -> str:
    if exact_failures("", results, ""):
        bad = sum(1 for r in results if r["differing"] != 0)
        return f"labels: DIFFERENT in {bad} of {len(results)} frames"
    return f"labels: identical ({len(results)} frames)"


# ----------------------------------------------------------------------------------------------
# Kit-side drivers (each starts one subprocess in the upstream interpreter)
# ----------------------------------------------------------------------------------------------
def _run_upstream_half(python: Path, mode: str, spec: dict[str, Any], work: Path) -> None:
    from semask.core.errors import KitError

    spec_path = work / f"{mode}_spec.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=os.pathsep.join([str(ROOT / "tools"), str(ROOT)]))
    proc = subprocess.run([str(python), "-m", "semask.evaluate.upstream.checks", f"--{mode}", str(spec_path)], env=env,
                          cwd=str(work), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise KitError(f"the upstream {mode} check ({python}) failed with exit code {proc.returncode}:\n{tail}")


def check_preprocess(fpn_dir: Path, python: Path, height: int, width: int, work: Path,
                     extra_images: Sequence[Path] = ()) -> dict[str, Any]:
    """Kit bins vs upstream's test pipeline on probe images (+ `extra_images`); report with a `line`."""
    from semask.model.config import UPSTREAM_CONFIGS

    work = Path(work) / "preprocess"
    images = write_probe_images(work / "images", height, width) + [Path(p) for p in extra_images]
    spec = {"fpn_dir": str(fpn_dir), "config_file": str(Path(fpn_dir) / "configs" / UPSTREAM_CONFIGS[PIPELINE_CONFIG]),
            "images": [str(p.resolve()) for p in images], "height": height, "width": width, "out_dir": str(work)}
    _run_upstream_half(python, "preprocess", spec, work)
    import cv2

    results, sizes = [], []
    for i, path in enumerate(images):
        src = cv2.imread(str(path), cv2.IMREAD_COLOR).shape[:2]
        sizes.append(f"{src[0]}x{src[1]}" + ("" if src == (height, width) else f"->{height}x{width}"))
        results.append(compare_arrays(path.name, kit_bin(path, height, width), np.load(work / f"upstream_pre_{i}.npy")))
    return {"images": len(results), "sizes": sizes, "per_image": results, "line": preprocess_line(results, sizes),
            "failures": exact_failures("preprocess", results, "values")}


def check_labels(converter: Path, python: Path, work: Path, num: int = LABEL_FRAMES,
                 size: tuple[int, int] = (256, 512), seed: int = 0) -> dict[str, Any]:
    """Kit labels vs labels from `converter` (upstream's cityscapes.py) on the same synthetic polygons
    of `size` (height, width)."""
    from semask.data.labels import prepare_labels

    height, width = size

    work = Path(work) / "labels"
    root = work / "cityscapes"
    make_label_frames(root, num, height, width, seed)
    kit_out = work / "kit"
    manifest = prepare_labels(root, kit_out, limit=num, mode="polygons", size=(height, width), jobs=1)
    rels = [e["label"] for e in json.loads(Path(manifest["manifest"]).read_text())["images"]]
    # upstream's converter writes <frame>_gtFine_labelTrainIds.png next to each polygon JSON, then lists
    # the frames of train/val/test (it needs all three folders, as the real dataset has them)
    for split in ("train", "test"):
        (root / "gtFine" / split).mkdir(parents=True, exist_ok=True)
    _run_upstream_half(python, "labels", {"converter": str(converter), "data_root": str(root),
                                          "out_dir": str(work / "upstream_lists")}, work)
    results = compare_label_dirs(kit_out, root / "gtFine" / "val", rels)
    info = json.loads((work / "upstream_lists" / "versions.json").read_text())
    return {"frames": len(results), "size": [height, width], "per_frame": results, "upstream_versions": info,
            "kit_pillow": json.loads(Path(manifest["manifest"]).read_text()).get("pillow"),
            "line": labels_line(results), "failures": exact_failures("labels", results, "pixels")}


def run_checks(fpn_dir: Path, python: Path, size: tuple[int, int], work: Path, extra_images: Sequence[Path] = (),
               log: Callable[[str], None] = print) -> tuple[dict[str, Any], list[str]]:
    """Both checks for `crosscheck` (preprocessing at `size`, height and width): (report part, failures).
    Logs the two summary lines."""
    report = {"preprocess": check_preprocess(fpn_dir, python, size[0], size[1], work, extra_images),
              "labels": check_labels(Path(fpn_dir) / CONVERTER, python, work)}
    for part in report.values():
        log(part["line"])
    return report, report["preprocess"]["failures"] + report["labels"]["failures"]


# ----------------------------------------------------------------------------------------------
# Upstream halves (inside env/upstream/venv)
# ----------------------------------------------------------------------------------------------
def _prepare_upstream(fpn_dir: str | None) -> None:
    sys.dont_write_bytecode = True
    for p in [str(ROOT)] + ([fpn_dir] if fpn_dir else []):
        if p not in sys.path:
            sys.path.insert(0, p)
    import patches.upstream_compat as compat

    compat.apply()


def upstream_preprocess_main(spec: dict[str, Any]) -> int:
    """Upstream's own test pipeline (from its Cityscapes config) at (WIDTH, HEIGHT) on each image."""
    _prepare_upstream(spec["fpn_dir"])
    import mmcv
    from mmseg.datasets.pipelines import Compose

    cfg = mmcv.Config.fromfile(spec["config_file"])
    steps = [dict(type="LoadImageFromFile")] + list(cfg.data.test.pipeline[1:])
    for step in steps:
        if step["type"] == "MultiScaleFlipAug":
            step["img_scale"] = (int(spec["width"]), int(spec["height"]))  # mmcv scales are (w, h)
    pipeline = Compose(steps)
    for i, path in enumerate(spec["images"]):
        data = pipeline(dict(img_info=dict(filename=path), img_prefix=None))
        np.save(Path(spec["out_dir"]) / f"upstream_pre_{i}.npy", data["img"][0].unsqueeze(0).numpy())
    return 0


def upstream_labels_main(spec: dict[str, Any]) -> int:
    """Run upstream's converter file unmodified, as `python cityscapes.py DATA_ROOT -o OUT` would."""
    import runpy

    _prepare_upstream(None)
    out = Path(spec["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    argv = sys.argv
    sys.argv = [spec["converter"], spec["data_root"], "-o", str(out)]
    try:
        runpy.run_path(spec["converter"], run_name="__main__")
    finally:
        sys.argv = argv
    import PIL

    versions = {"pillow": PIL.__version__, "python": sys.version.split()[0]}
    try:
        from importlib.metadata import version

        versions["cityscapesscripts"] = version("cityscapesscripts")
    except Exception:  # noqa: BLE001  (a stand-in converter may not need the distribution)
        versions["cityscapesscripts"] = None
    (out / "versions.json").write_text(json.dumps(versions))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] in ("--preprocess", "--labels"):
        spec = json.loads(Path(args[1]).read_text())
        return (upstream_preprocess_main if args[0] == "--preprocess" else upstream_labels_main)(spec)
    print("usage: python -m semask.evaluate.upstream.checks --preprocess|--labels SPEC.json (internal; use tools/crosscheck.py)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
