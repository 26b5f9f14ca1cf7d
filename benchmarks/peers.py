"""OpenCV's pretrained dnn_superres models (../shared/peers) as evaluate methods."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from common import REPO

from srgan.evaluation import Method

PEERS = {  # name -> (file stem, OpenCV algorithm name)
    "ESPCN": ("ESPCN", "espcn"),
    "FSRCNN": ("FSRCNN", "fsrcnn"),
    "FSRCNN-small": ("FSRCNN-small", "fsrcnn"),
    "LapSRN": ("LapSRN", "lapsrn"),
}


def peers_dir() -> Path:
    return Path(os.environ.get("SRGAN_PEERS", REPO.parent / "shared" / "peers" / "opencv_dnn_superres"))


def available(scale: int) -> list[str]:
    return [n for n, (stem, _) in PEERS.items() if (peers_dir() / f"{stem}_x{scale}.pb").is_file()]


def peer_method(name: str, scale: int) -> Method:
    if not hasattr(cv2, "dnn_superres"):
        raise SystemExit("cv2.dnn_superres is missing: install opencv-contrib-python-headless (not the plain build)")
    stem, algo = PEERS[name]
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    path = peers_dir() / f"{stem}_x{scale}.pb"
    try:
        sr.readModel(str(path))
    except cv2.error as exc:  # OpenCV 5 reads these TensorFlow graphs with its ONNX importer, which refuses them
        raise SystemExit(f"{path.name}: OpenCV {cv2.__version__} cannot read this TensorFlow model "
                         f"({str(exc).strip().splitlines()[-1]}); the OpenCV peers need "
                         "opencv-contrib-python-headless<5 in the benchmark environment") from None  # fmt: skip
    sr.setModel(algo, scale)

    def run(lr: np.ndarray) -> np.ndarray:
        if lr.dtype != np.uint8:
            lr = np.floor(np.clip(lr, 0, 255) + 0.5).astype(np.uint8)
        rgb = np.repeat(lr, 3, axis=2) if lr.shape[2] == 1 else lr
        out = sr.upsample(np.ascontiguousarray(rgb[:, :, ::-1]))[:, :, ::-1]
        return out[:, :, :1] if lr.shape[2] == 1 else np.ascontiguousarray(out)

    return Method(f"{name} (OpenCV)", scale, run)
