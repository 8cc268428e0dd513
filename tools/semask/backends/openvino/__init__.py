"""OpenVINO on the CPU: the same folder contract as ONNX Runtime."""
