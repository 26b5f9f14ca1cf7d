"""Image quality metrics with the published super-resolution protocol."""

from srgan.metrics.psnr_ssim import (
    PROTOCOLS,
    Protocol,
    gaussian_window,
    protocol_planes,
    psnr,
    rgb_to_y,
    ssim,
)

__all__ = ["PROTOCOLS", "Protocol", "gaussian_window", "protocol_planes", "psnr", "rgb_to_y", "ssim"]
