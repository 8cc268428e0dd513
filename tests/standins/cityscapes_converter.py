"""Stand-in for upstream's SeMask-FPN/tools/convert_datasets/cityscapes.py (tests only).

Same command line and the same conversion call (cityscapesscripts json2labelImg(..., 'trainIds')
on every *_polygons.json under CITYSCAPES_PATH/gtFine, written beside it), minus mmcv, so the
labels check can run in the kit's env where upstream's clone and env are absent.
"""
from __future__ import annotations

import argparse
import os

from cityscapesscripts.preparation.json2labelImg import json2labelImg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cityscapes_path")
    parser.add_argument("--gt-dir", default="gtFine")
    parser.add_argument("-o", "--out-dir")
    args = parser.parse_args()
    out_dir = args.out_dir or args.cityscapes_path
    os.makedirs(out_dir, exist_ok=True)
    gt_dir = os.path.join(args.cityscapes_path, args.gt_dir)
    for folder, _, names in sorted(os.walk(gt_dir)):
        for name in sorted(names):
            if name.endswith("_polygons.json"):
                path = os.path.join(folder, name)
                json2labelImg(path, path.replace("_polygons.json", "_labelTrainIds.png"), "trainIds")


if __name__ == "__main__":
    main()
