#!/usr/bin/env bash
# Install the Ascend inference extras: aclruntime (C++ extension over AscendCL) + ais_bench, plus what ais_bench
# imports (setuptools with pkg_resources, attrs). Neither tool package is on PyPI (PyPI's `ais-bench-benchmark` is a
# different, LLM-evaluation tool). docs/ASCEND_HOST.md walks through it.
#
# Sources (AIS_BENCH_SOURCE):
#   auto        (default) the ref whose backend/setup.py get_cann_path() accepts the installed CANN, chosen by
#               env/ascend_source.py (it prints the reason, or why neither fits):
#   maintained  gitee ascend/tools at the pinned last official merge (!1523, 2025-12-18): needs
#               runtime/lib64/stub/<arch>/ + runtime/include/ or <arch>-linux/lib64/ + include/, and
#               aclrtSetDeviceSatMode in the ACL headers (CANN 6.0.1+);
#   mirror2023  the 2023 GitHub mirror, github.com/Ascend/tools @ 9d6da90 (ais_bench 0.0.2; the SeMask guide's
#               era): needs runtime/lib64/stub/libascendcl.so;
#   /path       a local clone of ascend/tools (offline); its setup.py's generation is checked against CANN;
#   wheels      local wheels: AIS_BENCH_WHEELS="/path/aclruntime-*.whl /path/ais_bench-*.whl", e.g. the prebuilt
#               0.0.2 ones (cp37/38/39 only), or a cp311 wheel built on a connected host with the same CANN and
#               machine (`pip wheel --no-build-isolation <clone>/ais-bench_workload/tool/ais_bench/backend`).
# Before a source build it checks Python.h, g++ and git (one `error:` line each), installs the pinned build
# dependencies (setuptools < 81, wheel, pybind11; skipped when already there, so an offline host works) and builds
# with --no-build-isolation. Overrides: ASCEND_TOOLS_REPO / ASCEND_TOOLS_REF, PYTHON (default .venv/bin/python),
# AIS_INSTALL_DRY_RUN=1 (print the commands only).
#
# Usage:  source /usr/local/Ascend/ascend-toolkit/set_env.sh && bash env/install_ascend_extras.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$here/.venv/bin/python}"
SOURCE="${AIS_BENCH_SOURCE:-auto}"
SUBDIR="ais-bench_workload/tool/ais_bench"
MAINTAINED_REPO="https://gitee.com/ascend/tools.git"
MAINTAINED_REF="8da7f6455bb122ca38b50e625fb7751c7e190ed1"   # !1523, 2025-12-18
MIRROR_REPO="https://github.com/Ascend/tools.git"
MIRROR_REF="9d6da90"                                          # synced 2023-06-10, ais_bench 0.0.2
DRY="${AIS_INSTALL_DRY_RUN:-}"
HELPER="$here/env/ascend_source.py"

run() { echo "+ $*"; [ -n "$DRY" ] || "$@"; }

if [ -z "$DRY" ] && [ ! -x "$PYTHON" ]; then
    echo "error: $PYTHON not found; run 'make env' first or set PYTHON=/path/to/python" >&2
    exit 2
fi
# the helper runs in the Python that gets aclruntime (its Python.h, its pins); a dry run may name a placeholder
helper_python="$PYTHON"
[ -x "$helper_python" ] || helper_python="$(command -v python3)"

case "$SOURCE" in
    auto|maintained|mirror2023|wheels) ;;
    *) if [ ! -d "$SOURCE" ]; then
           echo "error: AIS_BENCH_SOURCE=$SOURCE is not one of: auto (default), maintained, mirror2023, wheels, or a local clone folder" >&2
           exit 2
       fi ;;
esac

if [ "$SOURCE" != wheels ]; then
    if [ -z "${ASCEND_TOOLKIT_HOME:-}" ] && [ -z "${ASCEND_HOME_PATH:-}" ] && [ -z "${CANN_PATH:-}" ]; then
        echo "error: CANN environment not set (ASCEND_TOOLKIT_HOME is empty); run: source ${ASCEND_SET_ENV:-/usr/local/Ascend/ascend-toolkit/set_env.sh}   then rerun this script" >&2
        exit 2
    fi
    "$helper_python" "$HELPER" preflight
    choice="$("$helper_python" "$HELPER" choose --source "$SOURCE")"
    chosen="$(sed -n 's/^source=//p' <<<"$choice")"
    export CANN_PATH="$(sed -n 's/^cann_path=//p' <<<"$choice")"   # the 2023 ref reads only CANN_PATH
    echo "aclruntime source: $chosen ($(sed -n 's/^reason=//p' <<<"$choice"))"
fi

# build dependencies and what every ais_bench era imports, pinned for this Python; an offline host that already
# has them at these versions installs nothing
mapfile -t pins < <("$helper_python" "$HELPER" pins)
missing=()
for pin in "${pins[@]}"; do
    have="$("$helper_python" -c "import sys; sys.path.insert(0, '$here/tools'); from semask.core.distinfo import version; print(version('${pin%%==*}') or '')" 2>/dev/null || true)"
    [ "$have" = "${pin##*==}" ] || missing+=("$pin")
done
[ "${#missing[@]}" -eq 0 ] || run "$PYTHON" -m pip install "${missing[@]}"

if [ "$SOURCE" = wheels ]; then
    if [ -z "${AIS_BENCH_WHEELS:-}" ]; then
        echo "error: AIS_BENCH_SOURCE=wheels needs AIS_BENCH_WHEELS=\"/path/aclruntime-*.whl /path/ais_bench-*.whl\"" >&2
        exit 2
    fi
    # shellcheck disable=SC2086
    run "$PYTHON" -m pip install --no-build-isolation $AIS_BENCH_WHEELS
elif [ -d "$SOURCE" ]; then
    echo "installing ais_bench + aclruntime from the local clone $SOURCE"
    run "$PYTHON" -m pip install -v --no-build-isolation "$SOURCE/$SUBDIR/backend"
    run "$PYTHON" -m pip install -v --no-build-isolation "$SOURCE/$SUBDIR"
else
    if [ "$chosen" = maintained ]; then repo="$MAINTAINED_REPO"; ref="$MAINTAINED_REF"; else repo="$MIRROR_REPO"; ref="$MIRROR_REF"; fi
    repo="${ASCEND_TOOLS_REPO:-$repo}"; ref="${ASCEND_TOOLS_REF:-$ref}"
    echo "installing ais_bench + aclruntime from $repo @ $ref ($chosen)"
    run "$PYTHON" -m pip install -v --no-build-isolation "git+${repo}@${ref}#egg=aclruntime&subdirectory=${SUBDIR}/backend"
    run "$PYTHON" -m pip install -v --no-build-isolation "git+${repo}@${ref}#egg=ais_bench&subdirectory=${SUBDIR}"
fi

# the kit's own probe: aclruntime, pkg_resources and attrs import in this Python, versions under any name
run env PYTHONPATH="$here/tools" "$PYTHON" -c "
from semask.backends.ascend.probe import probe
p = probe('${ASCEND_SET_ENV:-/usr/local/Ascend/ascend-toolkit/set_env.sh}', ['$PYTHON', '-m', 'ais_bench'])
print(('ok: ' if p.ok else 'FAILED (' + str(p.failed) + '): ') + p.message + ' | ' + p.version_line())
raise SystemExit(0 if p.ok else 2)"
echo "ais_bench + aclruntime installed for $PYTHON"
