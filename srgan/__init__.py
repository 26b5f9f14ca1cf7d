"""srgan: image super-resolution and dataset augmentation on PyTorch.

The package is organised one folder per concern (see README.md): ``io`` reads and
writes images faithfully, ``resize`` is the MATLAB-compatible bicubic the benchmark
protocol depends on, ``metrics`` scores images the way published tables do.
"""

from srgan.errors import SrganError

__version__ = "0.1.0"

__all__ = ["SrganError", "__version__"]
