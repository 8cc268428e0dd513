"""Stand-in (tests only): the module ATC imports first (E40000 names it)."""
