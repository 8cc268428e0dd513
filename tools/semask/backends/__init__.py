"""The inference backends, one room each (ort, openvino, ascend), and what they share."""
