"""Typed errors. The CLI turns every :class:`SrganError` into one line on stderr."""

from __future__ import annotations


class SrganError(Exception):
    """Base class of every error srgan raises on purpose."""

    exit_code = 2


class ImageError(SrganError):
    """Something is wrong with an image file."""


class ImageReadError(ImageError):
    """An image could not be read (missing, unreadable, not an image, corrupt)."""


class CorruptImageError(ImageReadError):
    """The file claims to be an image but its data is truncated or damaged."""


class NotAnImageError(ImageReadError):
    """The file is empty or not in any image format srgan reads."""


class ImageTooLargeError(ImageReadError):
    """The header announces more pixels than the configured limit (decompression bomb guard)."""


class UnsupportedImageError(ImageReadError):
    """A valid image of a kind srgan cannot represent (e.g. float or 32-bit samples)."""


class OutputTooLargeError(ImageError):
    """The output asked for exceeds the output pixel limit or what its file format can store."""


class ImageWriteError(ImageError):
    """An image could not be written (unsupported format, channels or depth, I/O failure)."""


class ConfigError(SrganError):
    """A configuration or command-line value is invalid."""


class DataError(SrganError):
    """A dataset folder is missing, empty or holds images unfit for the task."""


class ModelError(SrganError):
    """A model could not be found, loaded or run."""


class Interrupted(SrganError):
    """Ctrl-C / SIGTERM stopped a long job after its state was saved; it can be resumed."""

    exit_code = 130


class PartialFailure(SrganError):
    """A batch finished but some items failed; each was reported on its own."""

    exit_code = 1
