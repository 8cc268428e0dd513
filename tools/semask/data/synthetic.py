"""A tiny deterministic stand-in for the Cityscapes val split, for tests, demos and benchmarks.

The files follow the real layout and naming exactly, the polygon JSON uses real Cityscapes label
names (including ignored ones such as 'ego vehicle' and 'out of roi', a '*group' label and the
id -1 'license plate'), and labelIds.png is rendered from that JSON by cityscapesscripts itself, so
the kit's preparation and scoring code paths see what they would see on the real data.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from cityscapesscripts.helpers.annotation import Annotation
from cityscapesscripts.helpers.labels import labels as CS_LABELS
from cityscapesscripts.preparation.json2labelImg import createLabelImage

from semask.data.cityscapes import CITIES, IMAGE_SUFFIX, LABEL_IDS_SUFFIX, POLYGONS_SUFFIX, SYNTHETIC_MARKER, frame_id
from semask.core.errors import KitError
from semask.core.fsio import atomic_write_bytes, atomic_write_json, ensure_writable_dir

Point = list[int]


def frame_name(index: int) -> tuple[str, str]:
    """(city, frame id) of the index-th synthetic frame: cities cycle frankfurt, lindau, munster."""
    city = CITIES[index % len(CITIES)]
    return city, frame_id(city, index // len(CITIES), 19 + 7 * index)


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
    return [[int(x0), int(y0)], [int(x1), int(y0)], [int(x1), int(y1)], [int(x0), int(y1)]]


def scene_objects(rng: np.random.Generator, height: int, width: int) -> list[dict]:
    """Polygons of a street-like scene, back to front (later objects are drawn over earlier ones)."""
    h, w = height, width
    horizon = h * rng.uniform(0.38, 0.5)
    objs: list[tuple[str, list[Point]]] = [("sky", _rect(0, 0, w, horizon + 2))]
    x = 0.0
    while x < w:  # a row of buildings of random width and height
        bw = w * rng.uniform(0.08, 0.22)
        top = horizon * rng.uniform(0.1, 0.7)
        objs.append(("building", _rect(x, top, x + bw, horizon + 4)))
        x += bw
    cx, cy, r = w * rng.uniform(0.1, 0.9), horizon * rng.uniform(0.6, 1.0), h * rng.uniform(0.06, 0.15)
    angles = np.linspace(0, 2 * np.pi, 9)[:-1]
    objs.append(("vegetation", [[int(cx + r * 1.6 * np.cos(a)), int(cy + r * np.sin(a))] for a in angles]))
    vanish = w * rng.uniform(0.4, 0.6)
    objs.append(("road", [[int(vanish - w * 0.04), int(horizon)], [int(vanish + w * 0.04), int(horizon)], [w, h], [0, h]]))
    objs.append(("sidewalk", [[0, int(horizon + h * 0.05)], [int(vanish - w * 0.05), int(horizon)], [0, int(h * 0.85)]]))
    objs.append(("terrain", [[w, int(horizon + h * 0.05)], [int(vanish + w * 0.05), int(horizon)], [w, int(h * 0.8)]]))
    objs.append(("static", _rect(w * 0.9, horizon - h * 0.08, w * 0.97, horizon + h * 0.02)))
    px = w * rng.uniform(0.05, 0.95)
    objs.append(("pole", _rect(px, horizon - h * 0.3, px + max(2, w * 0.006), horizon + h * 0.1)))
    objs.append(("traffic sign", _rect(px - w * 0.015, horizon - h * 0.3, px + w * 0.02, horizon - h * 0.24)))
    for i in range(int(rng.integers(1, 4))):  # cars on the road, one drawn as a 'cargroup'
        cw, ch = w * rng.uniform(0.08, 0.16), h * rng.uniform(0.08, 0.14)
        x0 = w * rng.uniform(0.05, 0.8)
        y1 = horizon + h * rng.uniform(0.12, 0.4)
        objs.append(("cargroup" if i == 1 else "car", _rect(x0, y1 - ch, x0 + cw, y1)))
        objs.append(("license plate", _rect(x0 + cw * 0.4, y1 - ch * 0.25, x0 + cw * 0.6, y1 - ch * 0.1)))
    ppx, ppy = w * rng.uniform(0.05, 0.9), horizon + h * rng.uniform(0.05, 0.2)
    objs.append(("person", _rect(ppx, ppy - h * 0.14, ppx + w * 0.02, ppy)))
    objs.append(("ego vehicle", [[0, int(h * 0.9)], [w, int(h * 0.9)], [w, h], [0, h]]))
    objs.append(("out of roi", _rect(0, 0, max(1, w * 0.01), h)))
    return [{"label": label, "polygon": poly} for label, poly in objs]


def _colour_table(rng: np.random.Generator) -> np.ndarray:
    """Per label id an RGB colour near the Cityscapes colour, jittered per image."""
    table = np.zeros((256, 3), np.int16)
    for label in CS_LABELS:
        if label.id >= 0:
            table[label.id] = label.color
    table[:34] += rng.integers(-20, 21, size=(34, 3)).astype(np.int16)
    return table


def render_frame(rng: np.random.Generator, height: int, width: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Return (polygon JSON dict, labelIds uint8 HxW, BGR uint8 HxWx3 image) for one random scene."""
    polygons = {"imgHeight": height, "imgWidth": width, "objects": scene_objects(rng, height, width)}
    annotation = Annotation()
    annotation.fromJsonText(json.dumps(polygons))
    ids = np.asarray(createLabelImage(annotation, "ids"), dtype=np.uint8)
    rgb = _colour_table(rng)[ids]
    shade = np.linspace(-25, 25, height, dtype=np.float32).astype(np.int16)[:, None, None]
    noise = rng.integers(-10, 11, size=(height, width, 1), dtype=np.int16)
    rgb += shade + noise
    np.clip(rgb, 0, 255, out=rgb)
    bgr = np.ascontiguousarray(rgb.astype(np.uint8)[:, :, ::-1])
    return polygons, ids, bgr


def frame_rng(index: int, seed: int = 0) -> np.random.Generator:
    """The random stream of the index-th frame: a frame depends on (seed, index) only."""
    return np.random.default_rng([seed, index])


def frame_image(index: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """BGR uint8 image of the index-th frame, exactly what `write_frame` writes (the crosscheck's inputs)."""
    return render_frame(frame_rng(index, seed), height, width)[2]


def _write_png(path: Path, array: np.ndarray) -> None:
    """Encoded in memory, written by Python (a full disk is then one line naming the file, not libpng's)."""
    ok, png = cv2.imencode(".png", array)
    if not ok:
        raise KitError(f"cv2 could not encode {path} as PNG; this is a kit bug, please report it")
    atomic_write_bytes(path, png.tobytes())


def write_frame(out: Path, index: int, height: int, width: int, seed: int, split: str = "val") -> str:
    """Write image, polygons and labelIds of the index-th frame; deterministic for (seed, index)."""
    city, fid = frame_name(index)
    polygons, ids, bgr = render_frame(frame_rng(index, seed), height, width)
    img_dir = out / "leftImg8bit" / split / city
    gt_dir = out / "gtFine" / split / city
    _write_png(img_dir / f"{fid}{IMAGE_SUFFIX}", bgr)
    atomic_write_json(gt_dir / f"{fid}{POLYGONS_SUFFIX}", polygons)
    _write_png(gt_dir / f"{fid}{LABEL_IDS_SUFFIX}", ids)
    return fid


def _write_star(args: tuple) -> str:
    return write_frame(*args)


def make_synthetic(out: Path, num: int, size: tuple[int, int], seed: int = 0, split: str = "val",
                   jobs: int | None = None) -> list[str]:
    """Write `num` frames of `size` (height, width) in the Cityscapes layout under `out`; return their frame ids."""
    height, width = size
    out = ensure_writable_dir(Path(out), "synthetic dataset folder")
    # first, so even a partly written set is never mistaken for real data
    atomic_write_json(out / SYNTHETIC_MARKER, {"generator": "semask.data.synthetic (tools/make_synthetic_cityscapes.py)",
                                               "note": "synthetic street scenes, not Cityscapes; any mIoU on them is a smoke test",
                                               "num": num, "height": height, "width": width, "seed": seed, "split": split})
    tasks = [(out, i, height, width, seed, split) for i in range(num)]
    jobs = max(1, min(jobs or os.cpu_count() or 1, num))
    if jobs == 1:
        return [_write_star(t) for t in tasks]
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(_write_star, tasks))
