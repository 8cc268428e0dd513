"""Installed distributions and their versions on any Python from 3.6: importlib.metadata when it exists.

Why: make's parse-time work and the probes that run inside ais_bench's or the run's interpreter may meet
CANN's Python 3.7 (the guide's box), where `importlib.metadata` does not exist (3.8+). The fallback chain is
importlib.metadata, the importlib_metadata backport, then reading `*.dist-info/METADATA` (and `*.egg-info/PKG-INFO`)
on sys.path directly. This file imports only the standard library, has no `from __future__` line and no
annotations newer than 3.6, because its source is also the prelude of the snippets those other interpreters run
(`snippet_prelude()`).
"""
import os
import re
import sys


def _metadata_module():
    """importlib.metadata, else the importlib_metadata backport, else None (3.6/3.7 without the backport)."""
    try:
        import importlib.metadata as found
        return found
    except ImportError:
        pass
    try:
        import importlib_metadata as found
        return found
    except ImportError:
        return None


def normal_name(name):
    """PEP 503 normal form: `Pillow`, `pillow` and `ais-bench`/`ais_bench` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _headers(path):
    """Name and Version from a METADATA / PKG-INFO file (the email-header block before the first blank line)."""
    found = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                if key in ("Name", "Version") and key not in found:
                    found[key] = value.strip()
    except OSError:
        return None
    return found if "Name" in found and "Version" in found else None


def _read_lines(folder, name):
    try:
        with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()
    except OSError:
        return []


def _scan(paths):
    """Distribution records read straight from the metadata folders on `paths` (first one wins per name)."""
    seen, out = set(), []
    for entry in paths:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for name in names:
            folder = os.path.join(entry or ".", name)
            if name.endswith(".dist-info"):
                head = _headers(os.path.join(folder, "METADATA"))
                files = [line.split(",")[0] for line in _read_lines(folder, "RECORD")]
            elif name.endswith(".egg-info") and os.path.isdir(folder):
                head = _headers(os.path.join(folder, "PKG-INFO"))
                files = _read_lines(folder, "SOURCES.txt")
            else:
                continue
            if head is None or normal_name(head["Name"]) in seen:
                continue
            seen.add(normal_name(head["Name"]))
            top = [t for t in _read_lines(folder, "top_level.txt") if t.strip()]
            out.append({"name": head["Name"], "version": head["Version"], "top_level": top, "files": files})
    return out


def distributions(paths=None):
    """Every installed distribution as {name, version, top_level, files} (files as forward-slash paths)."""
    md = _metadata_module()
    if md is None:
        return _scan(sys.path if paths is None else paths)
    out = []
    found = md.distributions() if paths is None else md.distributions(path=list(paths))
    for dist in found:
        try:
            top = (dist.read_text("top_level.txt") or "").split()
            files = [str(f).replace("\\", "/") for f in (dist.files or [])]
            out.append({"name": dist.metadata["Name"], "version": dist.version, "top_level": top, "files": files})
        except Exception:
            continue
    return out


def version(name, paths=None):
    """The installed version of distribution `name`, or None when it is not installed."""
    md = _metadata_module()
    if md is not None and paths is None:
        try:
            return md.version(name)
        except Exception:
            return None
    wanted = normal_name(name)
    for dist in _scan(sys.path if paths is None else paths):
        if normal_name(dist["name"]) == wanted:
            return dist["version"]
    return None


def snippet_prelude():
    """This module's source: the first part of a `python -c` snippet run in another interpreter (any 3.6+)."""
    with open(os.path.abspath(__file__), encoding="utf-8") as fh:
        return fh.read()
