#!/usr/bin/env bash
# Install the Ascend inference extras into the kit's venv: aclruntime (C++ extension over
# AscendCL) + ais_bench, from the tool's source repository as its README describes
# (Ascend/tools, ais-bench_workload/tool/ais_bench). Neither package is on PyPI (note: PyPI's
# `ais-bench-benchmark` is a different, LLM-evaluation tool).
#
# Needs: a CANN toolkit whose set_env.sh has been sourced in this shell (aclruntime's build
# looks for runtime/lib64/stub/libascendcl.so under $CANN_PATH or /usr/local/Ascend/...),
# a GCC newer than 4.8, git, and network access to github.com.
#
# Usage:  source /usr/local/Ascend/ascend-toolkit/set_env.sh && bash env/install_ascend_extras.sh
# Env:    PYTHON (default .venv/bin/python), ASCEND_TOOLS_REPO (default https://github.com/Ascend/tools.git;
#         the AIT README uses https://gitee.com/ascend/tools.git).
# Offline alternative: the prebuilt 0.0.2 wheels (cp37/38/39 only) from
#   https://aisbench.obs.myhuaweicloud.com/packet/ais_bench_infer/0.0.2/  ->  $PYTHON -m pip install ./aclruntime-*.whl ./ais_bench-*.whl
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$here/.venv/bin/python}"
REPO="${ASCEND_TOOLS_REPO:-https://github.com/Ascend/tools.git}"
SUBDIR="ais-bench_workload/tool/ais_bench"

if [ -z "${ASCEND_TOOLKIT_HOME:-}" ] && [ -z "${ASCEND_HOME_PATH:-}" ]; then
    echo "error: CANN environment not set (ASCEND_TOOLKIT_HOME is empty)." >&2
    echo "       run: source ${ASCEND_SET_ENV:-/usr/local/Ascend/ascend-toolkit/set_env.sh}   then rerun this script" >&2
    exit 2
fi
if ! command -v atc >/dev/null 2>&1; then
    echo "warning: atc is not on PATH although ASCEND_TOOLKIT_HOME is set; was set_env.sh sourced in this shell?" >&2
fi
if [ ! -x "$PYTHON" ]; then
    echo "error: $PYTHON not found; run 'make env' first or set PYTHON=/path/to/python" >&2
    exit 2
fi

set -x
"$PYTHON" -m pip install -v "git+${REPO}#egg=aclruntime&subdirectory=${SUBDIR}/backend"
"$PYTHON" -m pip install -v "git+${REPO}#egg=ais_bench&subdirectory=${SUBDIR}"
"$PYTHON" -m ais_bench --help >/dev/null
set +x
echo "ais_bench + aclruntime installed for $PYTHON"
