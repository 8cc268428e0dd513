"""ONNX Runtime: the provider checks and the folder run / perf loop."""
