"""Folders the project owns: it only ever empties a folder it created.

A folder named by a user (``--out``, ``--keep-markdown``) may hold anything. The project writes a
marker file into every folder it creates for such an option and refuses to clear a non-empty
folder without that marker, so a mistyped path can never delete someone's files.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from restorebench.metrics.errors import RestoreBenchError


class FolderError(RestoreBenchError):
    pass


def claim_folder(path: Path, marker: str, *, option: str, note: str) -> Path:
    """Make ``path`` an empty folder owned by the project (marked with ``marker``).

    An absent or empty folder is created and marked; a folder that already carries the marker is
    emptied (its contents were written by the project); anything else is refused with a message
    that names ``option``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FolderError(f"{option} {path} is a file, not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not (path / marker).is_file():
            raise FolderError(
                f"{option} {path} is not empty and was not created by restorebench: refusing to "
                f"replace its contents (choose an empty or new folder)"
            )
        for child in path.iterdir():
            if child.name == marker:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    path.mkdir(parents=True, exist_ok=True)
    (path / marker).write_text(note + "\n", encoding="utf-8")
    return path
