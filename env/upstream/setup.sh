#!/usr/bin/env bash
# Build env/upstream/venv: the separate Python env that runs the pinned upstream SeMask-FPN
# (mmseg 0.11 fork) for `make crosscheck`. Idempotent: a stamp records the hash of the inputs.
# Usage: bash env/upstream/setup.sh   (PYTHON=python3.11 by default)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/venv"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.setup.stamp"
PYTHON="${PYTHON:-python3.11}"
MMCV_VERSION="1.3.0"
TIMM_VERSION="0.4.12"
CITYSCAPESSCRIPTS_VERSION="2.3.0"
BUILD_SETUPTOOLS="69.5.1"
RUNTIME_SETUPTOOLS="80.9.0"

want="$(cat "$REQ" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" ]]; then
    echo "env/upstream/venv is up to date ($STAMP)"
    exit 0
fi

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found; set PYTHON=/path/to/python3.11" >&2
    exit 2
fi
rm -f "$STAMP"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# pip install, minus the expected complaints: timm's torchvision requirement (stubbed at run time,
# see patches/upstream_compat.py) and the temporary setuptools swap below.
pip_install() {
    "$PY" -m pip install --quiet "$@" 2> >(grep -vE "dependency resolver does not currently|requires torchvision, which is not installed|requires setuptools>=|is ignored: it is neither" >&2)
}
pip_install --upgrade "pip<25"
# Pinned deps (torch==2.13.0 is the CPU build; never install a bare `torch`).
pip_install -r "$REQ"
# timm without its deps: its torchvision requirement would pull a wheel that does not load here;
# patches/upstream_compat.py provides the torchvision stub the import chain needs.
pip_install --no-deps "timm==$TIMM_VERSION"
# cityscapesscripts for upstream's label converter, without its deps: its `typing` backport and GUI
# extras are not needed for json2labelImg (Pillow, numpy and pyquaternion are pinned above).
pip_install --no-deps "cityscapesscripts==$CITYSCAPESSCRIPTS_VERSION"
# mmcv 1.3.0 pure Python (no mmcv.ops): its sdist builds only with setuptools<70 and
# --no-build-isolation, but torch 2.13 requires setuptools>=77, so swap for this one build.
if ! "$PY" -c "import mmcv, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
    pip_install "setuptools==$BUILD_SETUPTOOLS"
    MMCV_WITH_OPS=0 pip_install --no-build-isolation --no-deps --no-cache-dir "mmcv==$MMCV_VERSION"
fi
pip_install "setuptools==$RUNTIME_SETUPTOOLS"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHONPATH="$ROOT" PYTHONDONTWRITEBYTECODE=1 "$PY" -c "import patches.upstream_compat as c; c.apply(); import mmcv, timm.models.layers, timm, torch, numpy, PIL; from cityscapesscripts.preparation.json2labelImg import json2labelImg; print('upstream env:', 'mmcv', mmcv.__version__, 'timm', timm.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__, 'pillow', PIL.__version__)" \
    || { echo "error: import check failed in $VENV; see above" >&2; exit 2; }
echo "$want" > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
echo "env/upstream/venv ready"
