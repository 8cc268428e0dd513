"""Ascend (atc + ais_bench) as a Backend (semask.backends.base): atc builds the OM from the simplified
ONNX, ais_bench runs it. Standard library at import; its steps run in CANN's environment."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

from semask import spec as vocabulary
from semask.backends.base import BuildSpec, InferSpec, PerfSpec


def _devices(knobs: Mapping[str, str]) -> list:
    return [int(d) for d in knobs["DEVICES"].split(",")]


class AscendBackend:
    name = "ascend"
    umask = "027"  # 0750 folders / 0640 files: the newest ais_bench refuses looser ones

    def run_prefix(self, values: Mapping[str, str], soc: str) -> str:
        return "ascend"

    def precisions(self) -> Tuple[str, ...]:
        return tuple(vocabulary.ATC_PRECISION_MODES)

    def precision_label(self, values: Mapping[str, str]) -> str:
        return f"v2-{values['PRECISION_V2']}" if values["PRECISION_V2"] else values["PRECISION"]

    def provider(self, values: Mapping[str, str]) -> str:
        return "ais_bench"

    def onnx_key(self, values: Mapping[str, str]) -> str:
        return "ONNX_SIM"

    def model_key(self, values: Mapping[str, str]) -> str:
        return "OM"

    def name_tail(self, values: Mapping[str, str], om_tag: str) -> str:
        return om_tag

    def step_prefix(self, values: Mapping[str, str]) -> str:
        """umask 027 (the newest ais_bench refuses looser files) and CANN's set_env.sh when it exists."""
        def quoted(text: str) -> str:  # always single-quoted, as make's q does
            return "'" + text.replace("'", "'\\''") + "'"

        script = quoted(values["ASCEND_SET_ENV"])
        # sourced as the parse-time check sources it (semask.backends.ascend.set_env): only its final status counts,
        # so a line of it that returns non-zero cannot kill the recipe silently under -e
        said = (quoted(f"error: ASCEND_SET_ENV={values['ASCEND_SET_ENV']} exited with code ") + '"$rc"'
                + quoted(" when sourced; fix the script or point ASCEND_SET_ENV at the CANN toolkit's set_env.sh"))
        return (f"umask 027; if [ -f {script} ]; then set +eu; . {script} >/dev/null 2>&1; rc=$?; set -eu; "
                f"if [ $rc -ne 0 ]; then echo {said} >&2; exit $rc; fi; fi;")

    def host_facts(self) -> Dict[str, Any]:
        from semask.backends.envcheck import ascend_info

        return ascend_info()

    def check(self, values: Mapping[str, str]) -> list:
        """ARTIFACTS' resolved path in the characters the newest ais_bench accepts (its PATH_WHITE_LIST_REGEX)."""
        import os
        import re

        real = os.path.realpath(values["ARTIFACTS"])
        if re.fullmatch(f"[{vocabulary.AIS_PATH_CHARS}]+", real):
            return []
        return [f"ARTIFACTS={values['ARTIFACTS']} (resolved: {real}) has characters ais_bench rejects; with "
                f"BACKEND=ascend its path may only use [{vocabulary.AIS_PATH_CHARS}], e.g. ARTIFACTS=artifacts"]

    def build(self, spec: BuildSpec) -> Dict[str, Any]:
        from semask.backends.ascend import toolchain
        from semask.backends.ascend.jobs import AtcJob

        k = spec.knobs
        precision = k["PRECISION"] if not k["PRECISION_V2"] else None
        knobs = {name: k.get(name) for name in ("KEEP_DTYPE", "OP_PRECISION", "MIXLIST")}
        info = toolchain.compile_om(AtcJob(spec.onnx, spec.out, spec.batch_size, spec.height, spec.width, k["SOC"],
                                           precision, spec.input_dtype, (), int(k["DEVICES"].split(",")[0]),
                                           precision_v2=k["PRECISION_V2"] or None,
                                           op_select_implmode=k["OP_SELECT_IMPLMODE"] or None, weights=spec.weights,
                                           atc_python=k.get("ATC_PYTHON") or None,
                                           knobs=knobs))
        mode = info["precision_mode"] or f"v2 {info['precision_mode_v2']}"
        print(f"om: {info['om']} (soc {info['soc_version']}, {mode}, bs{info['batch_size']})")
        return info

    def infer(self, spec: InferSpec) -> Dict[str, Any]:
        from semask.backends.ascend import toolchain
        from semask.backends.ascend.jobs import AisInferJob
        from semask.core.progress import step

        with step("infer", f"ais_bench bs{spec.batch_size} {spec.bins_dir}"):
            return toolchain.ais_infer(AisInferJob(spec.model, spec.bins_dir, spec.preds_dir, spec.run_name,
                                                   spec.batch_size, _devices(spec.knobs), weights=spec.weights))

    def perf(self, spec: PerfSpec) -> Dict[str, Any]:
        from semask.backends.ascend import toolchain
        from semask.backends.ascend.fs import write_private_json
        from semask.core.progress import step

        with step("perf", f"ais_bench bs{spec.batch_size} LOOP={spec.loop or 'auto'}"):
            result = toolchain.ais_perf(spec.model, spec.batch_size, spec.loop, _devices(spec.knobs), spec.seconds,
                                        weights=spec.weights)
        write_private_json(spec.out_json, result)
        print(toolchain.perf_line(result))
        return result


def atc_precheck(onnx: Path | str, soc: str, device: int, out: Path | str) -> Dict[str, Any]:
    """`make atc-check`: atc's pre-check of the graph on the chip; the verdict JSON, its lines printed, and
    a KitError when ops are unsupported."""
    import shutil
    from pathlib import Path

    from semask.backends.ascend import atc_report, fs as ascend_fs, knobs as ascend_knobs
    from semask.backends.ascend.toolchain import resolve_soc
    from semask.core.errors import KitError
    from semask.core.tempname import temp_dir

    onnx, out = Path(onnx), Path(out)
    ascend_knobs.check_soc(soc)
    if not onnx.is_file():
        raise KitError(f"{onnx} does not exist; run `make onnx` (BACKEND=ascend) first")
    soc, _ = resolve_soc(soc, device)
    ascend_fs.private_dir(out.parent, "OM folder")
    work = temp_dir(out.parent, ".atc-check-")
    try:
        result = atc_report.run_precheck(ascend_fs.real(onnx), soc, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.update(onnx=str(onnx), soc_version=soc)
    ascend_fs.write_private_json(out, result)
    for line in atc_report.precheck_lines(result):
        print(line)
    if result.get("available") and not result["ok"]:
        raise KitError(f"atc's pre-check failed for {onnx} on {soc} (details above, verdict in {out}); "
                       "see docs/ASCEND.md, 'When an op lands on AI CPU'")
    return result
