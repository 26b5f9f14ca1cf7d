"""``python -m srgan`` (also what ``torchrun -m srgan`` runs)."""

from srgan.cli import run

run()
