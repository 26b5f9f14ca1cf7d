"""Image-folder datasets for the augmenter: flat, or one sub-folder per class."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from srgan.errors import DataError
from srgan.imageio import list_images

__all__ = ["FolderDataset", "scan_folder"]


@dataclass(frozen=True)
class FolderDataset:
    """Files of a folder with their class (``""`` for a flat folder)."""

    root: Path
    files: tuple[Path, ...]
    labels: tuple[str, ...]

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    @property
    def flat(self) -> bool:
        return self.classes == [""]

    def by_class(self) -> dict[str, list[Path]]:
        out: dict[str, list[Path]] = {c: [] for c in self.classes}
        for f, c in zip(self.files, self.labels, strict=True):
            out[c].append(f)
        return out

    def relative(self, f: Path) -> Path:
        return f.relative_to(self.root)


def scan_folder(root: str | Path) -> FolderDataset:
    """Images directly in ``root`` form a flat dataset; images in sub-folders are classes."""
    r = Path(root)
    if not r.is_dir():
        raise DataError(f"{r}: no such folder")
    subdirs = sorted(d for d in r.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[Path] = []
    labels: list[str] = []
    for d in subdirs:
        for f in list_images(d, recursive=True):
            files.append(f)
            labels.append(d.name)
    top = list_images(r)
    if top and files:
        raise DataError(f"{r}: holds both images and class sub-folders; use one layout")
    for f in top:
        files.append(f)
        labels.append("")
    if not files:
        raise DataError(f"{r}: no images found (flat, or one sub-folder per class)")
    return FolderDataset(r, tuple(files), tuple(labels))
