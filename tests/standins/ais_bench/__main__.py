"""`python -m ais_bench` stand-in: T-HEAD CLI, batching, output layout, summary (tests only).

Written independently of the kit's own batching code so the two cross-check each other.
Env: STANDIN_AIS_CRASH_AFTER=N exits(1) after N batches (simulates a killed run).
STANDIN_AIS_ERA = 2025-12 (default, the strictest) | 2024-06 | 2023-06 picks which release's rules apply
(the ais_bench sources, Ascend/tools ais-bench_workload/tool/ais_bench of each era):
  2025-12  --output must not be over 0o750 (checked while parsing: `permission should not be over 0o750`,
           exit 2); .om, input folder and files: no symlink, characters [_A-Za-z0-9/.-], not group/other-
           writable, owned by the user; writes folders 0750 and files 0640.
           Every entry of the input folder is checked before filtering by extension (issue 25 §5: msit
           utils.py:77-94, gitee common/utils.py:93-113), so a manifest.json at 0664 fails the run with
           `input data:<path> is illegal`; ownership means uid = euid or gid in the user's groups (root is not
           exempt); --output_dirname is checked as a path relative to the working folder.
  2024-06  the same input rules; chmods the output folder 0750; without pkg_resources its version check
           raises UnboundLocalError.
  2023-06  no path rules; without pkg_resources it warns three times and falls back to run_mode tensor.
  2022-11  (ais_infer's `python -m ais_bench`) `--device` is one int in range(0, 255): no multi-device mode.
           Only this rule is modelled for that era; otherwise it behaves like 2023-06.
Multi-device mode (`multidevice_run`), 2023-06 and later: `--device 0,1` (a comma list, each
0-255, duplicates not refused) runs every device in turn (the real tool: one Pool process each) and prints
`i:<k> device_<id> throughput:<x> start_time:<t> end_time:<t>` per device, then `[INFO] summary
throughput:<sum>`; exit 0 only when every device finished.
  2023-06  always splits the --input files (ceil(n/devices) contiguous files each; it first opens device 0 to
           read the model's input count) into <output>/<dirname>/device<id>/ + device<id>_summary.json.
  2024-06+ splits only with `--divide_input 1` (int(n/devices) each, the first n%devices one more), else every
           device infers every file; <output>/<dirname>/device<id>_<k>/ + device<id>_<k>_summary.json.
A device that is not one of the stand-in chips (STANDIN_NPU_CARDS, as for npu-smi) fails to open in aclruntime.
     STANDIN_AIS_OOM_BATCH=N fails every run whose batch size is >= N with a device out-of-memory error,
     as the published SeMask table reports for bs16 on the 310P3. No ais_bench text for it was found in
     its sources, so the stand-in prints the ACL runtime's allocation error (207001,
     ACL_ERROR_RT_MEMORY_ALLOCATION) the way ais_bench reports a failed ACL call, and exits 1.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import stat
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from standin_log import log_call  # noqa: E402

OM_MAGIC = b"SEMASK-STANDIN-OM v1\n"
PADDING = "padding_infer_fake_file"
ERA = os.environ.get("STANDIN_AIS_ERA", "2025-12")
STRICT = ERA >= "2024"
PATH_BAD = re.compile(r"[^_A-Za-z0-9/.-]")
READ_NOT_PERMITTED = stat.S_IWGRP | stat.S_IWOTH
WRITE_NOT_PERMITTED = stat.S_IWGRP | stat.S_IWOTH | stat.S_IROTH | stat.S_IXOTH


class PathRefused(Exception):
    pass


def check_path(path: str, write: bool = False) -> None:
    """The path-security rules of ais_bench 2024+ for one input (write=False) or the output folder."""
    full = os.path.abspath(path)
    if PATH_BAD.search(full):
        raise PathRefused(f"path contains illegal char, legal chars include A-Z a-z 0-9 _ - / . ({full})")
    if not os.path.exists(full):
        return
    if os.path.islink(full):
        raise PathRefused(f"path :{full} is a soft link, not supported, please import file(or directory) directly")
    st = os.stat(full)
    if st.st_uid != os.geteuid() and st.st_gid not in os.getgroups():
        raise PathRefused(f"current user isn't path:{full}'s owner or ownergroup")
    mode = stat.S_IMODE(st.st_mode)
    if write and mode & WRITE_NOT_PERMITTED:
        raise PathRefused(f"The file {full} is group writable, or is others writable, as export file(or directory), "
                          "permission should not be over 0o750(rwxr-x---)")
    if not write and mode & READ_NOT_PERMITTED:
        raise PathRefused(f"The file {full} is group writable, or is others writable, as import file(or directory), "
                          "permission should not be over 0o755(rwxr-xr-x)")


def version_check(args: argparse.Namespace) -> None:
    """Every era reads aclruntime's version through pkg_resources; what happens without it differs."""
    try:
        import pkg_resources  # noqa: F401
        return
    except ImportError:
        pass
    if ERA.startswith("2024"):
        raise UnboundLocalError("local variable 'aclruntime_version' referenced before assignment")
    for _ in range(3):
        print("[WARNING] aclruntime version:None is lower please update aclruntime follow any one method")
    args.run_mode = "tensor"


def str2bool(v: str) -> bool:
    if v.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if v.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError("Boolean value expected true, 1, false, 0 with case insensitive.")


def positive(v: str) -> int:
    i = int(v)
    if i <= 0:
        raise argparse.ArgumentTypeError(f"{v} is not a valid positive int")
    return i


def nonneg(v: str) -> int:
    i = int(v)
    if i < 0:
        raise argparse.ArgumentTypeError(f"{v} is not a valid non-negative int")
    return i


def device_id(v: str):
    """check_device_range_valid: an int 0..255, or (2023-06 on) a comma list of them."""
    if "," in v:
        ids = [int(x) for x in v.split(",")]
        for i in ids:
            if not 0 <= i <= 255:
                raise argparse.ArgumentTypeError(f"{i} of device:{v} is invalid. valid value range is [0, 255]")
        return ids
    i = int(v)
    if not 0 <= i <= 255:
        raise argparse.ArgumentTypeError(f"device:{i} is invalid. valid value range is [0, 255]")
    return i


def get_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--model", "-m", required=True)
    p.add_argument("--input", "-i", default=None)
    p.add_argument("--output", "-o", default=None)
    p.add_argument("--output_dirname", default=None)
    p.add_argument("--outfmt", default="BIN", choices=["NPY", "BIN", "TXT"])
    p.add_argument("--loop", "-l", type=positive, default=1)
    p.add_argument("--debug", type=str2bool, default=False)
    if ERA < "2023":
        p.add_argument("--device", type=int, default=0, choices=range(0, 255))
    else:
        p.add_argument("--device", "-d", type=device_id, default=0)
    if ERA >= "2024":
        p.add_argument("--divide_input", type=str2bool, default=False)
    p.add_argument("--dymBatch", type=int, default=0)
    p.add_argument("--dymHW", default=None)
    p.add_argument("--dymDims", default=None)
    p.add_argument("--dymShape", default=None)
    p.add_argument("--outputSize", default=None)
    p.add_argument("--batchsize", type=positive, default=None)
    p.add_argument("--pure_data_type", default="zero", choices=["zero", "random"])
    p.add_argument("--profiler", type=str2bool, default=False)
    p.add_argument("--dump", type=str2bool, default=False)
    p.add_argument("--acl_json_path", default=None)
    p.add_argument("--output_batchsize_axis", type=nonneg, default=0)
    p.add_argument("--run_mode", default="array", choices=["array", "files", "tensor", "full"])
    p.add_argument("--display_all_summary", type=str2bool, default=False)
    p.add_argument("--warmup_count", type=nonneg, default=1)
    args = p.parse_args()
    if ERA >= "2025" and args.output:
        try:
            check_path(args.output, write=True)
        except PathRefused as exc:
            print(f"[ERROR] {exc}")
            p.error(f"argument --output/-o: invalid check_output_path_legality value: '{args.output}'")
    if STRICT:
        for path in [args.model] + (args.input.split(",") if args.input else []):
            try:
                check_path(path)
            except PathRefused as exc:
                print(f"[ERROR] {exc}")
                p.error(f"argument: invalid path value: '{path}'")
    if args.output_dirname and not args.output:
        raise RuntimeError("error bad parameters --output_dirname")
    if ERA >= "2025" and args.output_dirname and PATH_BAD.search(os.path.abspath(args.output_dirname)):
        print(f"[ERROR] path contains illegal char, legal chars include A-Z a-z 0-9 _ - / . "
              f"({os.path.abspath(args.output_dirname)})")
        p.error(f"argument --output_dirname: invalid check_output_dirname value: '{args.output_dirname}'")
    if (args.profiler or args.dump) and not args.output:
        raise RuntimeError("error bad parameters --output is needed with --profiler/--dump")
    return args


def natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def files_in(inputs: str) -> list[str]:
    """--input: a folder (its .bin/.npy files, natural order) or a comma list of files (a device's share)."""
    first = inputs.split(",")[0]
    if os.path.isfile(first):
        files = inputs.split(",")
        if STRICT:
            for f in files:
                check_path(f)
        return files
    if not os.path.isdir(first):
        raise RuntimeError(f"error {first} not file or dir")
    folder = first
    if STRICT:  # every entry, before filtering by extension
        for name in sorted(os.listdir(folder)):
            try:
                check_path(os.path.join(folder, name))
            except PathRefused as exc:
                raise PathRefused(f"input data:{os.path.join(folder, name)} is illegal ({exc})") from None
    names = sorted(n for n in os.listdir(folder)
                   if n.endswith((".bin", ".BIN", ".npy", ".NPY")) and os.path.isfile(os.path.join(folder, n)))
    return [os.path.join(folder, n) for n in sorted(names, key=natural_key)]


def file_bytes(path: str) -> bytes:
    if path.endswith((".npy", ".NPY")):
        return np.load(path).tobytes()
    return np.fromfile(path, dtype=np.int8).tobytes()


def load_om(path: str):
    import onnxruntime as ort

    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(OM_MAGIC):
        raise RuntimeError(f"load model {path} failed (not a stand-in om)")
    body = data[len(OM_MAGIC):]
    body = body[body.index(b"\n") + 1:]
    return ort.InferenceSession(body, providers=["CPUExecutionProvider"])


def stats(values: list[float]) -> dict:
    if not values:
        return {"min": 0.0, "max": 0.0, "mean": 0.0, "median": 0.0, "percentile(99%)": 0.0, "count": 0}
    a = np.array(values)
    return {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean()), "median": float(np.median(a)),
            "percentile(99%)": float(np.percentile(a, 99)), "count": len(values)}


def save(array: np.ndarray, path_no_ext: str, fmt: str) -> str:
    if fmt == "NPY":
        path = path_no_ext + ".npy"
        np.save(path, array)
    elif fmt == "TXT":
        path = path_no_ext + ".txt"
        np.savetxt(path, array.reshape(-1, array.shape[-1]) if array.ndim > 1 else array,
                   fmt="%f" if array.dtype.kind == "f" else "%d")
    else:
        path = path_no_ext + ".bin"
        array.tofile(path)
    if STRICT:
        os.chmod(path, 0o640)
    return path


def main() -> None:
    log_call("ais_bench", [sys.executable, "-m", "ais_bench", *sys.argv[1:]])
    args = get_args()
    import aclruntime  # (the real tool imports its C++ backend first)
    version_check(args)
    print("[INFO] acl init success")
    if isinstance(args.device, list):
        sys.exit(multidevice(args, aclruntime))
    infer(args, aclruntime)


def shares_of(files: list[str], jobs: int) -> list[list[str]]:
    """How each era splits the input files over the devices (contiguous, in file order)."""
    if ERA < "2024":
        size = math.ceil(len(files) / jobs)
        chunks = [files[i:i + size] for i in range(0, len(files), size)]
        return chunks + [[] for _ in range(jobs - len(chunks))]
    each, left = divmod(len(files), jobs)
    out, start = [], 0
    for k in range(jobs):
        n = each + (1 if k < left else 0)
        out.append(files[start:start + n])
        start += n
    return out


def multidevice(args: argparse.Namespace, acl) -> int:
    """multidevice_run: one run per device (the real tool: a Pool process each), then the per-device lines."""
    devices = list(args.device)
    print(f"[INFO] multidevice:{devices} run begin")
    shares = None
    if args.input is not None and (ERA < "2024" or args.divide_input):
        files = files_in(args.input)
        acl.InferenceSession(args.model, 0)  # the real tool opens device 0 to read the model's input count
        shares = shares_of(files, len(devices))
    results = []
    for k, device in enumerate(devices):
        cur = copy.deepcopy(args)
        cur.device = device
        if shares is not None:
            cur.input = ",".join(shares[k])
        try:
            results.append((k, device, *infer(cur, acl, k, devices)))
        except Exception as exc:  # the Pool's error_callback
            print(f"[ERROR] subprocess run failed error_callback:{exc}")
    result = 0 if len(results) == len(devices) else 1
    print(f"[INFO] multidevice run end qsize:{2 * len(results)} result:{result}")
    for k, device, thr, start, end in results:
        if ERA < "2024":
            print(f"i:{k} device_{device} throughput:{thr} start_time:{start} end_time:{end}")
        else:
            print(f"[INFO] i:{k} device_{device} throughput:{thr}                 start_time:{start} end_time:{end}")
    print(f"[INFO] summary throughput:{sum(r[2] for r in results)}")
    return result


def infer(args: argparse.Namespace, acl, index: int | None = None, devices: list[int] | None = None) -> tuple:
    """One device's run (`main` of the real tool); returns (throughput, start_time, end_time)."""
    acl.InferenceSession(args.model, args.device)
    print(f"[INFO] open device {args.device} success")
    session = load_om(args.model)
    print(f"[INFO] load model {args.model} success")
    print("[INFO] create model description success")
    inp = session.get_inputs()[0]
    dtype = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(float16)": np.float16}[inp.type]
    shape = [int(d) for d in inp.shape]
    tensor_size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    batchsize = args.batchsize or shape[0]
    print(f"[INFO] try get model batchsize:{batchsize}")
    oom_batch = int(os.environ.get("STANDIN_AIS_OOM_BATCH", "0"))
    if oom_batch and batchsize >= oom_batch:
        print(f"[ERROR] aclrtMalloc failed, ret[207001] (ACL_ERROR_RT_MEMORY_ALLOCATION): "
              f"out of device memory for batch {batchsize}")
        print("[ERROR] model load/inference failed")
        sys.exit(1)
    prefix = None
    if args.output:
        prefix = os.path.join(args.output, args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S"))
        if devices is not None:
            prefix = os.path.join(prefix, f"device{args.device}" if ERA < "2024" else f"device{args.device}_{index}")
        if STRICT:
            os.makedirs(prefix, mode=0o750, exist_ok=True)
            os.chmod(prefix, 0o750)
            if ERA.startswith("2024"):
                os.chmod(args.output, 0o750)
        else:
            os.makedirs(prefix, exist_ok=True)
        print(f"[INFO] output path:{prefix}")
    crash_after = int(os.environ.get("STANDIN_AIS_CRASH_AFTER", "0"))

    if args.input:
        try:
            files = files_in(args.input)
        except PathRefused as exc:
            raise RuntimeError(f"[ERROR] {exc}") from None
        fsize = len(file_bytes(files[0]))
        if tensor_size % fsize != 0:
            raise RuntimeError(f"[ERROR] arg0 tensorsize: {tensor_size} filesize: {fsize} not match")
        per_batch = tensor_size // fsize
        runcount = math.ceil(len(files) / per_batch)
        print(f"[INFO] get filesperbatch files0 size:{fsize} tensor0size:{tensor_size} "
              f"filesperbatch:{per_batch} runcount:{runcount}")
        batches = [files[i:i + per_batch] for i in range(0, len(files), per_batch)]
        batches[-1] = batches[-1] + [PADDING] * (per_batch - len(batches[-1]))
    else:
        per_batch = 1
        batches = [None]

    def feed_of(batch):
        if batch is None:
            data = np.zeros(shape, dtype) if args.pure_data_type == "zero" else \
                np.random.default_rng().random(shape).astype(dtype)
            return {inp.name: data}
        parts = [file_bytes(batch[0] if f == PADDING else f) for f in batch]
        raw = b"".join(parts)
        if len(raw) != tensor_size:
            raise RuntimeError(f"ndata size:{len(raw)} not match {tensor_size}")
        return {inp.name: np.frombuffer(raw, dtype).reshape(shape)}

    for _ in range(args.warmup_count):
        session.run(None, feed_of(batches[0]))
    if args.warmup_count:
        print(f"[INFO] warm up {args.warmup_count} done")
    times: list[float] = []
    filesinfo: dict = {}
    start_time = time.time()
    for bi, batch in enumerate(batches):
        feed = feed_of(batch)
        for k in range(args.loop):
            t0 = time.perf_counter()
            outs = session.run(None, feed)
            times.append((time.perf_counter() - t0) * 1000)
            print(f"\rloop inference exec: ({k + 1}/{args.loop})", end="")
        print()
        if prefix is not None:
            if batch is None:
                for i, o in enumerate(outs):
                    save(o, os.path.join(prefix, f"pure_infer_data_{i}"), args.outfmt)
            else:
                pieces = []
                for o in outs:
                    if o.shape[args.output_batchsize_axis] % per_batch:
                        raise RuntimeError(f"save out files error array shape:{o.shape} filesinfo:{batch}")
                    pieces.append(np.array_split(o, per_batch, axis=args.output_batchsize_axis))
                for j, f in enumerate(batch):
                    if f == PADDING:
                        continue
                    stem = os.path.basename(f).split(".")[0]
                    outfiles = [save(pieces[i][j], os.path.join(prefix, f"{stem}_{i}"), args.outfmt)
                                for i in range(len(outs))]
                    filesinfo[bi * per_batch + j] = {"infiles": [f], "outfiles": outfiles}
        if crash_after and bi + 1 >= crash_after:
            print("[ERROR] stand-in simulated crash", file=sys.stderr)
            sys.exit(1)

    end_time = time.time()
    c = stats(times)
    h = stats([])
    thr = 1000 * batchsize / c["mean"]
    print("[INFO] -----------------Performance Summary------------------")
    if args.display_all_summary:
        print(f"[INFO] H2D_latency (ms): min = {h['min']}, max = {h['max']}, mean = {h['mean']}, median = {h['median']}, percentile(99%) = {h['percentile(99%)']}")
    print(f"[INFO] NPU_compute_time (ms): min = {c['min']}, max = {c['max']}, mean = {c['mean']}, median = {c['median']}, percentile(99%) = {c['percentile(99%)']}")
    if args.display_all_summary:
        print(f"[INFO] D2H_latency (ms): min = {h['min']}, max = {h['max']}, mean = {h['mean']}, median = {h['median']}, percentile(99%) = {h['percentile(99%)']}")
    print(f"[INFO] throughput 1000*batchsize.mean({batchsize})/NPU_compute_time.mean({c['mean']}): {thr}")
    print("[INFO] ------------------------------------------------------")
    if prefix is not None:
        info = {"filesinfo": filesinfo, "args": sys.argv, "NPU_compute_time": c, "H2D_latency": h, "D2H_latency": h,
                "throughput": thr, "npu_compute_time_list": times, "pid": os.getpid()}
        with open(prefix + "_summary.json", "w") as fh:
            json.dump(info, fh)
        if STRICT:
            os.chmod(prefix + "_summary.json", 0o640)
    print("[INFO] unload model success, model Id is 1")
    print("[INFO] end to destroy context")
    print(f"[INFO] end to reset device is {args.device}")
    print("[INFO] end to finalize acl")
    return thr, start_time, end_time


if __name__ == "__main__":
    main()
