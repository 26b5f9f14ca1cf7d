"""Faithful image reading and writing, numpy only: dtype, alpha, gray, ICC/EXIF, limits.

``read`` decodes (with header-only :func:`probe_image`), ``write`` encodes atomically, ``png``
works at the chunk level, ``formats`` holds the shared types and limits.
"""

from srgan.imageio.formats import (
    DEFAULT_MAX_OUTPUT_PIXELS,
    DEFAULT_MAX_PIXELS,
    FORMAT_MAX_SIDE,
    IMAGE_EXTENSIONS,
    ImageInfo,
    ImageMeta,
    LoadedImage,
    format_for_path,
    max_input_pixels,
    max_output_pixels,
    to_8bit,
)
from srgan.imageio.read import list_images, load_image, probe_image, read_image
from srgan.imageio.write import STREAM_THRESHOLD, encode_image, write_image

__all__ = [
    "DEFAULT_MAX_OUTPUT_PIXELS",
    "DEFAULT_MAX_PIXELS",
    "FORMAT_MAX_SIDE",
    "IMAGE_EXTENSIONS",
    "STREAM_THRESHOLD",
    "ImageInfo",
    "ImageMeta",
    "LoadedImage",
    "encode_image",
    "format_for_path",
    "list_images",
    "load_image",
    "max_input_pixels",
    "max_output_pixels",
    "probe_image",
    "read_image",
    "to_8bit",
    "write_image",
]
