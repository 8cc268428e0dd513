"""SeMask-FPN offline-inference kit: the package the `tools/*.py` CLIs share."""

UPSTREAM_REPO_URL = "https://github.com/Picsart-AI-Research/SeMask-Segmentation"
UPSTREAM_COMMIT = "f12cf00c86afe669dfbea1dff0f8053ba49fed56"
