"""Training: configuration, trainer (G/D steps, EMA, AMP, checkpoints, DDP)."""

from srgan.train.config import Config, load_config
from srgan.train.trainer import Trainer, TrainingInterrupted, train

__all__ = ["Config", "Trainer", "TrainingInterrupted", "load_config", "train"]
