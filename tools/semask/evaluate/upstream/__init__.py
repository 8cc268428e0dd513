"""The cross-check against upstream SeMask-FPN running in its own pinned environment."""
