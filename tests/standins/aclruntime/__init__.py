"""Stand-in for aclruntime (tests only), the C++ extension over AscendCL that ais_bench imports.

Env: STANDIN_ACLRUNTIME_MISSING=1 makes the import fail the way a shell without the CANN libraries
does (libascendcl.so not found), so tests can check the kit's probe message.
"""
import os

if os.environ.get("STANDIN_ACLRUNTIME_MISSING"):
    raise ImportError("libascendcl.so: cannot open shared object file: No such file or directory")

__version__ = "0.0.2"
