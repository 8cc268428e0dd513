#!/usr/bin/env bash
# Install the Ascend inference extras into the kit's venv: aclruntime (C++ extension over AscendCL)
# + ais_bench, plus what ais_bench imports (setuptools with pkg_resources, attrs; pinned in
# env/requirements.txt). Neither tool package is on PyPI (PyPI's `ais-bench-benchmark` is a different,
# LLM-evaluation tool).
#
# Sources (AIS_BENCH_SOURCE):
#   maintained  (default) the maintained tool: gitee ascend/tools, ais-bench_workload/tool/ais_bench, at
#               the pinned ref below = the last official merge read for the kit (!1523, 2025-12-18,
#               "ais_bench supports python3.12"; msit's README says the tool moved back there).
#   mirror2023  the unmaintained 2023 GitHub mirror, github.com/Ascend/tools @ 9d6da90 (ais_bench 0.0.2 as
#               of 2023-06; the ModelZoo SeMask guide's era).
#   wheels      local wheels: AIS_BENCH_WHEELS="/path/aclruntime-*.whl /path/ais_bench-*.whl", e.g. the
#               prebuilt 0.0.2 ones (cp37/38/39 only) from
#               https://aisbench.obs.myhuaweicloud.com/packet/ais_bench_infer/0.0.2/
# Overrides: ASCEND_TOOLS_REPO / ASCEND_TOOLS_REF (another clone or ref of the chosen source),
#            PYTHON (default .venv/bin/python), AIS_INSTALL_DRY_RUN=1 (print the commands only).
#
# Needs: a CANN toolkit whose set_env.sh has been sourced in this shell (aclruntime's build looks for
# runtime/lib64/stub/libascendcl.so under $CANN_PATH or /usr/local/Ascend/...), a GCC newer than 4.8,
# git, and network access to the source.
#
# Usage:  source /usr/local/Ascend/ascend-toolkit/set_env.sh && bash env/install_ascend_extras.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$here/.venv/bin/python}"
SOURCE="${AIS_BENCH_SOURCE:-maintained}"
SUBDIR="ais-bench_workload/tool/ais_bench"
MAINTAINED_REPO="https://gitee.com/ascend/tools.git"
MAINTAINED_REF="8da7f6455bb122ca38b50e625fb7751c7e190ed1"   # !1523, 2025-12-18
MIRROR_REPO="https://github.com/Ascend/tools.git"
MIRROR_REF="9d6da90"                                          # synced 2023-06-10, ais_bench 0.0.2
DRY="${AIS_INSTALL_DRY_RUN:-}"

run() { echo "+ $*"; [ -n "$DRY" ] || "$@"; }

if [ -z "${ASCEND_TOOLKIT_HOME:-}" ] && [ -z "${ASCEND_HOME_PATH:-}" ]; then
    echo "error: CANN environment not set (ASCEND_TOOLKIT_HOME is empty)." >&2
    echo "       run: source ${ASCEND_SET_ENV:-/usr/local/Ascend/ascend-toolkit/set_env.sh}   then rerun this script" >&2
    exit 2
fi
if ! command -v atc >/dev/null 2>&1; then
    echo "warning: atc is not on PATH although ASCEND_TOOLKIT_HOME is set; was set_env.sh sourced in this shell?" >&2
fi
if [ -z "$DRY" ] && [ ! -x "$PYTHON" ]; then
    echo "error: $PYTHON not found; run 'make env' first or set PYTHON=/path/to/python" >&2
    exit 2
fi

# what every ais_bench era imports: pkg_resources (setuptools < 81) and attrs, at the kit's pins
pins=$(grep -E '^(setuptools|attrs)==' "$here/env/requirements.txt")
# shellcheck disable=SC2086
run "$PYTHON" -m pip install $pins

case "$SOURCE" in
    maintained|mirror2023)
        if [ "$SOURCE" = maintained ]; then repo="$MAINTAINED_REPO"; ref="$MAINTAINED_REF"; else repo="$MIRROR_REPO"; ref="$MIRROR_REF"; fi
        repo="${ASCEND_TOOLS_REPO:-$repo}"; ref="${ASCEND_TOOLS_REF:-$ref}"
        echo "installing ais_bench + aclruntime from $repo @ $ref ($SOURCE)"
        run "$PYTHON" -m pip install -v "git+${repo}@${ref}#egg=aclruntime&subdirectory=${SUBDIR}/backend"
        run "$PYTHON" -m pip install -v "git+${repo}@${ref}#egg=ais_bench&subdirectory=${SUBDIR}"
        ;;
    wheels)
        if [ -z "${AIS_BENCH_WHEELS:-}" ]; then
            echo "error: AIS_BENCH_SOURCE=wheels needs AIS_BENCH_WHEELS=\"/path/aclruntime-*.whl /path/ais_bench-*.whl\"" >&2
            exit 2
        fi
        # shellcheck disable=SC2086
        run "$PYTHON" -m pip install $AIS_BENCH_WHEELS
        ;;
    *)
        echo "error: AIS_BENCH_SOURCE=$SOURCE is not one of: maintained (default), mirror2023, wheels" >&2
        exit 2
        ;;
esac

# the kit's own probe: aclruntime, pkg_resources and attrs import in this Python, versions under any name
run env PYTHONPATH="$here/tools" "$PYTHON" -c "
from semask.backends.ascend.probe import probe
p = probe('${ASCEND_SET_ENV:-/usr/local/Ascend/ascend-toolkit/set_env.sh}', ['$PYTHON', '-m', 'ais_bench'])
print(('ok: ' if p.ok else 'FAILED (' + str(p.failed) + '): ') + p.message + ' | ' + p.version_line())
raise SystemExit(0 if p.ok else 2)"
echo "ais_bench + aclruntime installed for $PYTHON"
