"""Fetching the Cityscapes val packages when DATA_ROOT is empty and credentials are given.

Why its own module: logging in and downloading is the only network step of the data stage; the
label and bin makers only need to know the dataset is there (`ensure_dataset`).
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

from semask.core.errors import KitError
from semask.core.fsio import ensure_writable_dir
from semask.data.cityscapes import PACKAGES, missing_dataset_message


def download_cityscapes(data_root: Path) -> None:
    """Fetch and unzip the two val packages with cityscapesscripts' downloader (needs credentials)."""
    import requests  # noqa: F401  (a cityscapesscripts dependency)
    from cityscapesscripts.download import downloader

    session = requests.Session()
    form = {"username": os.environ["CITYSCAPES_USERNAME"], "password": os.environ["CITYSCAPES_PASSWORD"], "submit": "Login"}
    response = session.post("https://www.cityscapes-dataset.com/login", data=form, allow_redirects=False)
    if response.status_code != 302:
        raise KitError("Cityscapes login failed for CITYSCAPES_USERNAME; check CITYSCAPES_USERNAME/CITYSCAPES_PASSWORD")
    ensure_writable_dir(data_root, "DATA_ROOT")
    try:
        downloader.download_packages(session=session, package_names=list(PACKAGES), destination_path=str(data_root), resume=True)
    except Exception as exc:  # the downloader raises bare Exception
        raise KitError(f"downloading {', '.join(PACKAGES)} into {data_root} failed: {exc}") from None
    for name in PACKAGES:
        with zipfile.ZipFile(data_root / name) as archive:
            archive.extractall(data_root)


def ensure_dataset(data_root: Path) -> None:
    """Download when the layout is absent and credentials are set; otherwise say what to download."""
    if data_root.exists() and not data_root.is_dir():
        raise KitError(f"DATA_ROOT={data_root} is a file, not a folder; set DATA_ROOT to the folder that holds "
                       "leftImg8bit/ and gtFine/")
    if (data_root / "leftImg8bit").is_dir() and (data_root / "gtFine").is_dir():
        return
    if os.environ.get("CITYSCAPES_USERNAME") and os.environ.get("CITYSCAPES_PASSWORD"):
        download_cityscapes(data_root)
        return
    raise KitError(missing_dataset_message(data_root))
