"""Stand-in for the ais_bench package (tests only): `python -m ais_bench` runs a stand-in .om
(written by tests/standins/bin/atc) with onnxruntime, following T-HEAD ais_bench behaviour."""
