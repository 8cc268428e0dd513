"""SeMask-FPN offline-inference kit: the package the `tools/*.py` CLIs share.

Subpackages follow the pipeline (see docs/ARCHITECTURE.md): `spec` (the shared vocabulary),
`core` (errors, files, journals, provenance), `data` (Cityscapes in, bins and labels out),
`model` (network, checkpoints, ONNX export), `runtime` (ONNX Runtime and Ascend inference),
`evaluate` (predictions, mIoU, tables) and `upstream` (the cross-check against upstream's code).
"""
