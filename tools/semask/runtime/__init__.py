"""Stage 3: inference backends (ONNX Runtime, Ascend atc + ais_bench) behind one ais_bench-shaped contract."""
