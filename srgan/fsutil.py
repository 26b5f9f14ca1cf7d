"""What srgan may write, replace and delete in a user's folders.

The rules, in one place:

* srgan never writes into, or deletes from, a folder it reads from: an output folder may not
  equal a source folder, lie inside it, or contain it, and no input file (a checkpoint, a
  pipeline file, a test folder) may lie inside an output folder. These are checked before
  anything is written.
* Every file is written atomically: to a hidden temporary file beside the target, synced, then
  renamed over it, so readers see the old file or the complete new one, never half of one.
* srgan deletes only what srgan wrote. Every folder srgan fills keeps a record
  (``.srgan-outputs``) of the paths it created there, written before each file. ``--overwrite``
  removes the recorded paths and nothing else: a user's own files in the folder stay.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from srgan.errors import ConfigError

__all__ = [
    "RECORD_NAME",
    "OutputFolder",
    "atomic_write_bytes",
    "atomic_write_with",
    "check_disjoint",
    "check_writable",
    "is_within",
    "overlaps",
    "prepare_output",
]

log = logging.getLogger(__name__)

#: The file in an output folder that lists what srgan created there (one relative path a line;
#: a trailing ``/`` marks a folder srgan created whole).
RECORD_NAME = ".srgan-outputs"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_with(path: Path, writer: Callable[[io.BufferedWriter], object]) -> None:
    """Like :func:`atomic_write_bytes`, with ``writer`` streaming into the temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.srgan-{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        os.close(fd)
        with open(tmp, "wb") as f:  # a named file: some writers (tifffile) look at f.name
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would have,
        # or keep the mode of the file being replaced.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the complete new one.

    The bytes go to a hidden temporary file in the same folder, are flushed and synced,
    then renamed over ``path``. On any failure the temporary file is removed.
    """
    atomic_write_with(Path(path), lambda f: f.write(data))


def _real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def is_within(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """True if ``path`` is ``folder`` or lies inside it, after resolving links."""
    p, f = _real(path), _real(folder)
    return p == f or f in p.parents


def overlaps(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True if two folders are the same or one lies inside the other."""
    return is_within(a, b) or is_within(b, a)


def check_disjoint(
    out: str | os.PathLike[str],
    *,
    folders: Iterable[tuple[str, str | os.PathLike[str] | None]] = (),
    files: Iterable[tuple[str, str | os.PathLike[str] | None]] = (),
) -> None:
    """Refuse an output folder that overlaps an input folder or holds an input file.

    ``folders`` and ``files`` are ``(what, path)`` pairs, e.g. ``("source folder", src)``;
    ``None`` paths are ignored. Raises :class:`ConfigError` naming the first conflict.
    """
    for what, folder in folders:
        if folder is None:
            continue
        if is_within(out, folder):
            raise ConfigError(f"{out}: the output folder must not be the {what} {folder} or lie inside it")
        if is_within(folder, out):
            raise ConfigError(f"{out}: the output folder must not contain the {what} {folder}")
    for what, file in files:
        if file is not None and is_within(file, out):
            raise ConfigError(f"{out}: the output folder must not contain the {what} {file}")


class OutputFolder:
    """A folder srgan fills, with the record of what srgan created in it.

    ``prepare(overwrite=...)`` refuses a folder that already holds files unless ``overwrite``;
    then it deletes the paths a previous srgan run recorded and leaves every other file alone.
    ``claim(path)`` records a path before it is written, so even a killed run leaves a record
    of everything it may have created.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.record = self.root / RECORD_NAME

    def recorded(self) -> list[str]:
        if not self.record.is_file():
            return []
        lines = self.record.read_text(encoding="utf-8", errors="replace").splitlines()
        return list(dict.fromkeys(line for line in lines if line.strip()))

    def prepare(self, *, overwrite: bool) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"{self.root}: exists and is not a folder")
        if self.root.is_dir() and any(p.name != RECORD_NAME for p in self.root.iterdir()):
            if not overwrite:
                raise ConfigError(f"{self.root}: already holds files; choose an empty folder or pass --overwrite")
            removed = self.remove_recorded()
            log.info("%s: removed %d output(s) of an earlier run; other files are kept", self.root, removed)
        self.root.mkdir(parents=True, exist_ok=True)

    def remove_recorded(self) -> int:
        """Delete what the record lists (inside the folder only); return how many paths went."""
        root = _real(self.root)
        removed = 0
        parents: set[Path] = set()
        for line in self.recorded():
            is_dir = line.endswith("/")
            rel = Path(line.rstrip("/"))
            if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                continue  # a damaged or edited record never reaches outside the folder
            target = self.root / rel
            if target.is_symlink() or not is_within(target, root) or _real(target) == root:
                continue
            if is_dir and target.is_dir():
                shutil.rmtree(target)
            elif not is_dir and target.is_file():
                target.unlink()
            else:
                continue
            removed += 1
            parents.update(p for p in target.parents if p != self.root and is_within(p, root))
        for folder in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only empty folders go
        self.record.unlink(missing_ok=True)
        return removed

    def claim(self, path: str | os.PathLike[str], *, folder: bool = False) -> Path:
        """Record ``path`` (inside this folder) as srgan's before it is written; returns it."""
        p = Path(path)
        rel = p.relative_to(self.root)
        if folder and p.exists():
            return p  # a folder that was already there is not srgan's to delete whole
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.record, "a", encoding="utf-8") as f:
            f.write(rel.as_posix() + ("/" if folder else "") + "\n")
        return p


def prepare_output(out: str | os.PathLike[str], *, overwrite: bool) -> OutputFolder:
    """Refuse a non-empty ``out`` unless ``overwrite``; then only what srgan wrote there before is removed."""
    folder = OutputFolder(out)
    folder.prepare(overwrite=overwrite)
    return folder


def check_writable(folder: str | os.PathLike[str], need_bytes: int = 0) -> None:
    """Refuse, before any work, a folder that cannot be created or written, or lacks ``need_bytes`` of space."""
    root = Path(folder)
    existing = next((p for p in (root, *root.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise ConfigError(f"{root}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{root}: cannot write there (permission denied in {existing})")
    free = shutil.disk_usage(existing).free
    if need_bytes > free:
        raise ConfigError(
            f"{root}: the outputs need about {need_bytes / 1e9:.1f} GB, only {free / 1e9:.1f} GB are free"
        )
