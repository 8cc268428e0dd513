"""Runtime patches for third-party code the kit runs beside itself (see upstream_compat)."""
