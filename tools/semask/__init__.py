"""SeMask-FPN offline-inference kit: the package the `tools/*.py` CLIs share.

Subpackages are stages, each importing only those below it (tests/test_imports.py):
`spec` (the shared vocabulary) < `core` (mechanisms: errors, files, locks, journals) < `data` (Cityscapes in,
bins and labels out) < `model` (network, checkpoints, ONNX export) < `backends` (ONNX Runtime, OpenVINO,
Ascend: one room each) < `evaluate` (predictions, mIoU, the upstream cross-check) < `run` (the run's plan,
workspace, stamps, provenance, verify, the reproduce sweep and the results table).
"""
