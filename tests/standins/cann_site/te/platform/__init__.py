"""Stand-in (tests only): te.platform."""
