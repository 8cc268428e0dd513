"""Stand-in for ais_bench.infer (tests only): the real tool's inference code lives here; the stand-in runs
from ais_bench/__main__.py, and this package only marks it as the inference tool (not PyPI's ais-bench-benchmark)."""
