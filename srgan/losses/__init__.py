"""Losses: pixel, perceptual, adversarial; each a small Module carrying its weight."""

from srgan.losses.adversarial import ADVERSARIAL_KINDS, AdversarialLoss, LeCamRegularizer, random_shift
from srgan.losses.artifact import ArtifactLoss, artifact_map
from srgan.losses.grid import GridLoss
from srgan.losses.lowpass import LowPassLoss, gaussian_blur
from srgan.losses.perceptual import BACKBONES, PerceptualLoss, load_backbone
from srgan.losses.pixel import PIXEL_LOSSES, CharbonnierLoss, L1Loss, MSELoss

__all__ = [
    "ADVERSARIAL_KINDS",
    "BACKBONES",
    "PIXEL_LOSSES",
    "AdversarialLoss",
    "ArtifactLoss",
    "CharbonnierLoss",
    "GridLoss",
    "L1Loss",
    "LeCamRegularizer",
    "LowPassLoss",
    "MSELoss",
    "PerceptualLoss",
    "artifact_map",
    "gaussian_blur",
    "load_backbone",
    "random_shift",
]
