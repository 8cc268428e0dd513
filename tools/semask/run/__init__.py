"""The run's room: its plan, resolution, layout, workspace, stamps, provenance, verify, sweep and table."""
