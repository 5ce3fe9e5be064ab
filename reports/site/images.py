"""Image files of the site: inputs, references and outputs copied at native size (named by their
content, so an image shared by many pages is stored once) and thumbnails for the galleries.

Paths recorded in the database are absolute, relative to the working folder, or relative to
the database's folder; a file that is gone is shown as missing, an unreadable one as such —
never a failed build.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

#: Formats a browser shows as they are; other images are converted to PNG.
WEB_FORMATS = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


class ImageFiles:
    def __init__(self, *, db_path: Path, docs_dir: Path, thumbnail_px: int):
        self.bases = [Path.cwd(), db_path.resolve().parent, db_path.resolve().parent.parent]
        self.docs_dir = docs_dir
        self.thumbnail_px = thumbnail_px
        self._native: dict[Path, tuple[str, int, int] | None] = {}
        self._thumbs: dict[Path, str | None] = {}

    def resolve(self, path: Any) -> Path | None:
        if not isinstance(path, str) or not path:
            return None
        candidate = Path(path).expanduser()
        for c in ([candidate] if candidate.is_absolute() else [b / candidate for b in self.bases]):
            if c.is_file():
                return c
        return None

    def native(self, path: Any) -> tuple[str, int, int] | None:
        """``(docs-relative path, width, height)`` of the image at native size, or None when
        the file is missing or unreadable."""
        source = self.resolve(path)
        if source is None:
            return None
        if source not in self._native:
            self._native[source] = self._copy(source)
        return self._native[source]

    def _copy(self, source: Path) -> tuple[str, int, int] | None:
        from PIL import Image

        try:
            with Image.open(source) as image:
                width, height = image.size
                digest = _file_digest(source)
                suffix = source.suffix.lower()
                if suffix in WEB_FORMATS:
                    target = f"images/{digest}{suffix}"
                    if not (self.docs_dir / target).exists():
                        (self.docs_dir / "images").mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(source, self.docs_dir / target)
                else:
                    target = f"images/{digest}.png"
                    if not (self.docs_dir / target).exists():
                        (self.docs_dir / "images").mkdir(parents=True, exist_ok=True)
                        image.convert("RGB").save(self.docs_dir / target, format="PNG")
        except Exception:  # an unreadable image is shown as such, not a failed build
            return None
        return target, width, height

    def thumbnail(self, path: Any) -> str | None:
        """Docs-relative path of a PNG thumbnail (longest side ``thumbnail_px``)."""
        source = self.resolve(path)
        if source is None:
            return None
        if source not in self._thumbs:
            self._thumbs[source] = self._thumb(source)
        return self._thumbs[source]

    def _thumb(self, source: Path) -> str | None:
        from PIL import Image

        stat = source.stat()
        key = hashlib.sha256(f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{self.thumbnail_px}".encode()).hexdigest()[:20]
        target = f"thumbs/{key}.png"
        if (self.docs_dir / target).exists():
            return target
        try:
            with Image.open(source) as image:
                image = image.convert("RGB")
                image.thumbnail((self.thumbnail_px, self.thumbnail_px))
                (self.docs_dir / "thumbs").mkdir(parents=True, exist_ok=True)
                image.save(self.docs_dir / target, format="PNG")
        except Exception:
            return None
        return target


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:24]


def png_bytes(array: Any) -> bytes:
    """An RGB array as PNG bytes."""
    import io

    import numpy as np
    from PIL import Image

    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = np.clip(array * (255 if array.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
