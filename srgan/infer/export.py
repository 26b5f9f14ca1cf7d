"""ONNX export with dynamic height and width, checked against torch on a real image."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import torch

from srgan.archs import SRResNet
from srgan.errors import ModelError
from srgan.fsutil import atomic_write_bytes
from srgan.infer.models import load_model

__all__ = ["export_onnx", "onnx_parity"]

ONNX_EXTRA = "ONNX export needs the onnx extra: pip install 'srgan[onnx]' (onnx, onnxscript, onnxruntime)"


def _require_onnx() -> None:
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelError(f"{ONNX_EXTRA}; missing: {', '.join(missing)}")


def export_onnx(model_name: str | Path, output: str | Path, *, opset: int = 18) -> Path:
    """Export a model to ONNX (input ``lr`` ``(N, 3, H, W)`` in [0, 1], output ``sr``); written atomically."""
    _require_onnx()
    loaded = load_model(model_name, device="cpu")
    module = loaded.module.float().eval().to(memory_format=torch.contiguous_format)  # NCHW for export
    if isinstance(module, SRResNet):  # the plain resize + conv graph: the fused one's border fix-up
        module.fused_resize = False  # has shape-dependent branches the exporter cannot trace
    h = torch.export.Dim("height", min=8, max=16384)
    w = torch.export.Dim("width", min=8, max=16384)
    example = torch.rand(1, loaded.in_channels, 64, 48)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):  # the exporter reports progress on stdout
            program = torch.onnx.export(
                module, (example,), input_names=["lr"], output_names=["sr"],
                dynamic_shapes=[{0: torch.export.Dim("batch", min=1, max=64), 2: h, 3: w}],
                opset_version=opset, dynamo=True, verbose=False,
            )  # fmt: skip
    except Exception as exc:
        raise ModelError(f"cannot export {loaded.name} to ONNX ({type(exc).__name__}: {exc})") from exc
    if program is None:  # pragma: no cover - the dynamo exporter always returns its program
        raise ModelError(f"cannot export {loaded.name} to ONNX: the exporter returned no program")
    out = Path(output)
    tmp = out.with_name(f".{out.name}.export")
    try:
        program.save(str(tmp))
        atomic_write_bytes(out, tmp.read_bytes())
    finally:
        tmp.unlink(missing_ok=True)
    return out


def onnx_parity(model_name: str | Path, onnx_path: str | Path, image: np.ndarray) -> float:
    """Largest absolute difference (0-1 scale) between ONNX Runtime and torch on ``image`` (HWC uint8)."""
    _require_onnx()
    import onnxruntime as ort

    loaded = load_model(model_name, device="cpu")
    x = torch.from_numpy(np.ascontiguousarray(image[:, :, :3].transpose(2, 0, 1), dtype=np.float32) / 255.0)[None]
    with torch.inference_mode():
        ref = loaded.module.float().eval()(x).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"lr": x.numpy()})[0]
    if got.shape != ref.shape:
        raise ModelError(f"ONNX output shape {got.shape} differs from torch {ref.shape}")
    return float(np.abs(got - ref).max())
