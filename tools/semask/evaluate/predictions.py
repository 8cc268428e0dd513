"""Find the prediction `.bin` of every image in the layouts ais_bench (and the kit's ORT backend) write.

(a) ais_bench >= 0.0.2 / ORT backend: `<out>/<name>/<stem>_0.bin` + sibling `<out>/<name>_summary.json`
(b) ais_infer (Sep-2022): `<out>/<ts>/<stem>_0.bin` + `<out>/<ts>/sumary.json` (sic) inside the folder
(c) a bare folder of `<stem>_0.bin`
With a summary, `filesinfo` maps infiles[0] (basename before the first dot) -> outfiles[0]; a
folder mixing outputs of two runs is refused rather than silently scored.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from semask.core.errors import KitError
from semask.core.fsio import natural_key

PADDING_MARKER = "padding_infer_fake_file"


@dataclass
class PredictionSet:
    """Prediction files by image stem (`<city>_<seq>_<frame>_leftImg8bit`), and where they came from."""

    folder: Path
    summary: Path | None
    layout: str
    files: dict[str, Path]


def _summaries_for(folder: Path) -> list[Path]:
    found = [folder / "sumary.json", folder / "summary.json", folder.parent / f"{folder.name}_summary.json"]
    return [p for p in found if p.is_file()]


def locate(pred: Path) -> tuple[Path, Path | None]:
    """(prediction folder, summary json or None) from --pred given as the folder or the summary."""
    pred = Path(pred)
    if pred.is_file() and pred.suffix == ".json":
        if pred.name in ("sumary.json", "summary.json"):
            folder = pred.parent
        elif pred.name.endswith("_summary.json"):
            folder = pred.with_name(pred.name[: -len("_summary.json")])
        else:
            raise KitError(f"--pred {pred}: expected a prediction folder, <run>_summary.json or <run>/sumary.json")
        if not folder.is_dir():
            raise KitError(f"--pred {pred}: its prediction folder {folder} does not exist")
        others = [p for p in _summaries_for(folder) if p.resolve() != pred.resolve()]
        if others:
            raise KitError(f"prediction folder {folder} has two summary files ({pred.name}, {others[0].name}): "
                           "outputs of two runs are mixed; rerun inference into an empty folder")
        return folder, pred
    if not pred.is_dir():
        raise KitError(f"--pred {pred} does not exist; give the ais_bench/ORT output folder or its summary json")
    summaries = _summaries_for(pred)
    if len(summaries) > 1:
        raise KitError(f"prediction folder {pred} has two summary files ({', '.join(str(s) for s in summaries)}): "
                       "outputs of two runs are mixed; rerun inference into an empty folder")
    return pred, (summaries[0] if summaries else None)


def _stem(path_text: str) -> str:
    return path_text.replace("\\", "/").split("/")[-1].split(".")[0]


def load(pred: Path) -> PredictionSet:
    """Resolve --pred into a PredictionSet; KitError on mixed runs, duplicates or missing outputs."""
    folder, summary = locate(pred)
    bins = {p.name: p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".bin"}
    if summary is None:
        files: dict[str, Path] = {}
        for name, path in sorted(bins.items(), key=lambda kv: natural_key(kv[0])):
            if name.endswith("_0.bin"):
                files[name[: -len("_0.bin")]] = path
            else:
                print(f"warning: ignoring {path} (not <stem>_0.bin)", file=sys.stderr)
        return PredictionSet(folder, None, "bare folder", files)
    try:
        info = json.loads(summary.read_text(encoding="utf-8"))
        filesinfo = info.get("filesinfo")
    except (OSError, ValueError, AttributeError) as exc:
        raise KitError(f"prediction summary {summary} is unreadable ({exc}); rerun inference") from None
    layout = "ais_infer (<ts>/sumary.json)" if summary.parent == folder else "ais_bench (<name>_summary.json)"
    if not filesinfo:
        raise KitError(f"{summary} has no 'filesinfo'; was inference run with --output? rerun it")
    files, problems, used = {}, [], set()
    for sid, entry in filesinfo.items():
        try:
            infile, outfile = entry["infiles"][0], entry["outfiles"][0]
        except (KeyError, IndexError, TypeError):
            problems.append(f"filesinfo[{sid}] lacks infiles/outfiles")
            continue
        if PADDING_MARKER in str(infile):
            continue  # a padded slot of the last batch (older ais_infer wrote these)
        stem, out_name = _stem(infile), outfile.replace("\\", "/").split("/")[-1]
        if stem in files:
            problems.append(f"image {stem} appears twice in filesinfo")
        elif out_name not in bins:
            problems.append(f"{folder / out_name} (listed in the summary) is missing")
        else:
            files[stem] = bins[out_name]
            used.add(out_name)
    stray = sorted((n for n in bins if n not in used), key=natural_key)
    if stray:
        problems.append(f"{len(stray)} .bin file(s) not in {summary.name} (another run's outputs?): {', '.join(stray[:20])}")
    if problems:
        raise KitError(f"prediction folder {folder} is inconsistent: {'; '.join(problems)}; rerun inference into an empty folder")
    return PredictionSet(folder, summary, layout, files)



def label_agreement(pred_a: Path, pred_b: Path, label_dtype: str) -> dict[str, float | int]:
    """How many label pixels two runs' predictions share, over the images both have.

    Why: a reduced-precision row (bf16, force_fp16) is judged by how far its labels move from the fp32
    row's, not only by its mIoU. Both are label .bin files of `label_dtype` (LABEL_DTYPE) and one size.
    """
    import numpy as np

    a, b = load(pred_a), load(pred_b)
    common = sorted(set(a.files) & set(b.files), key=natural_key)
    if not common:
        raise KitError(f"predictions {pred_a} and {pred_b} share no image; they are not runs of the same data")
    same = total = 0
    for stem in common:
        x = np.fromfile(a.files[stem], dtype=label_dtype)
        y = np.fromfile(b.files[stem], dtype=label_dtype)
        if x.shape != y.shape:
            raise KitError(f"{a.files[stem]} and {b.files[stem]} differ in size: not the same output format")
        same += int((x == y).sum())
        total += int(x.size)
    return {"images": len(common), "pixels": total, "equal": same, "agreement": same / total if total else float("nan")}
