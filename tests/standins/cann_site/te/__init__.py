"""Stand-in for CANN 6.0's `te` (tests only): it imports only in a Python CANN 6.0 supports (3.7-3.9) without
numpy 2, as the real package does, so a compile through the atc stand-in fails under the kit's .venv (3.11, numpy 2).
The atc stand-in puts this folder on the PYTHONPATH of the `python3` it finds on PATH (CANN's set_env.sh does that
for the real package)."""
import sys

if not (3, 7) <= tuple(sys.version_info[:2]) <= (3, 9):
    raise ImportError("te (stand-in) supports Python 3.7-3.9 (CANN 6.0), not %d.%d" % tuple(sys.version_info[:2]))
try:
    import numpy
except ImportError:
    numpy = None
if numpy is not None and int(numpy.__version__.split(".")[0]) >= 2:
    raise ImportError("te (stand-in) needs numpy < 2, found %s" % numpy.__version__)
