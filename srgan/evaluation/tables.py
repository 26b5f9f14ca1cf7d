"""Evaluation results as Markdown and CSV tables."""

from __future__ import annotations

from collections.abc import Sequence

from srgan.evaluation.runner import DatasetResult

__all__ = ["format_csv", "format_markdown"]


#: how the tables name the extra metrics ``evaluate`` may add
_NAMES = {"lpips": "LPIPS"}


def _name(key: str) -> str:
    return _NAMES.get(key, key)


def format_markdown(results: Sequence[DatasetResult], *, per_image: bool = True) -> str:
    """Tables: one summary row per (dataset, method), then per-image rows per dataset."""
    lines: list[str] = []
    datasets = list(dict.fromkeys(r.dataset for r in results))
    for ds in datasets:
        rows = [r for r in results if r.dataset == ds]
        scale, protocol = rows[0].scale, rows[0].protocol
        keys = list(rows[0].extra)
        lines.append(f"### {ds} x{scale} (protocol: {protocol})")
        lines.append("")
        lines.append(
            "| method | PSNR-Y (dB) | SSIM-Y | " + "".join(f"{_name(k)} | " for k in keys) + "images | seconds |"
        )
        lines.append("|---|---:|---:|" + "---:|" * len(keys) + "---:|---:|")
        for r in rows:
            more = "".join(f"{r.extra[k]:.4f} | " for k in keys)
            lines.append(f"| {r.method} | {r.psnr_y:.2f} | {r.ssim_y:.4f} | {more}{r.n_images} | {r.seconds:.2f} |")
        lines.append("")
        if per_image and rows[0].images:
            what = " / ".join(["PSNR", "SSIM", *map(_name, keys)])
            lines.append("| image | " + " | ".join(f"{r.method} {what}" for r in rows) + " |")
            lines.append("|---|" + "---:|" * len(rows))
            for i, img in enumerate(rows[0].images):
                cells = [" / ".join([f"{r.images[i].psnr_y:.2f}", f"{r.images[i].ssim_y:.4f}",
                                     *(f"{r.images[i].extra[k]:.4f}" for k in keys)]) for r in rows]  # fmt: skip
                lines.append(f"| {img.name} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def format_csv(results: Sequence[DatasetResult]) -> str:
    """One row per image and one ``MEAN`` row per (dataset, method); extra metrics (LPIPS) after SSIM."""
    keys = list(results[0].extra) if results else []
    out = [",".join(["dataset,method,scale,protocol,image,psnr_y,ssim_y", *keys, "seconds"])]
    for r in results:
        head = f"{r.dataset},{r.method},{r.scale},{r.protocol}"
        for img in r.images:
            more = "".join(f"{img.extra[k]:.6f}," for k in keys)
            out.append(f"{head},{img.name},{img.psnr_y:.6f},{img.ssim_y:.6f},{more}")
        more = "".join(f"{r.extra[k]:.6f}," for k in keys)
        out.append(f"{head},MEAN,{r.psnr_y:.6f},{r.ssim_y:.6f},{more}{r.seconds:.4f}")
    return "\n".join(out) + "\n"
