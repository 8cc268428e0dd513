"""Stand-in for CANN's tbe (tests only): imports what te imports."""
import te  # noqa: F401
