"""Training: configuration, the shared loop (checkpoints, resume, logs, stop), the SR trainer."""

from srgan.train.config import Config, load_config
from srgan.train.loop import TrainLoop, read_checkpoint
from srgan.train.sr_trainer import Trainer, TrainingInterrupted, train

__all__ = ["Config", "TrainLoop", "Trainer", "TrainingInterrupted", "load_config", "read_checkpoint", "train"]
