"""Shared mechanisms every stage uses: errors, atomic files, journals, parallel loops, provenance."""
