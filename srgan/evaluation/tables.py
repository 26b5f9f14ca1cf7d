"""Evaluation results as Markdown and CSV tables."""

from __future__ import annotations

from collections.abc import Sequence

from srgan.evaluation.runner import DatasetResult

__all__ = ["format_csv", "format_markdown"]


def format_markdown(results: Sequence[DatasetResult], *, per_image: bool = True) -> str:
    """Tables: one summary row per (dataset, method), then per-image rows per dataset."""
    lines: list[str] = []
    datasets = list(dict.fromkeys(r.dataset for r in results))
    for ds in datasets:
        rows = [r for r in results if r.dataset == ds]
        scale, protocol = rows[0].scale, rows[0].protocol
        lines.append(f"### {ds} x{scale} (protocol: {protocol})")
        lines.append("")
        lines.append("| method | PSNR-Y (dB) | SSIM-Y | images | seconds |")
        lines.append("|---|---:|---:|---:|---:|")
        for r in rows:
            lines.append(f"| {r.method} | {r.psnr_y:.2f} | {r.ssim_y:.4f} | {r.n_images} | {r.seconds:.2f} |")
        lines.append("")
        if per_image and rows[0].images:
            lines.append("| image | " + " | ".join(f"{r.method} PSNR / SSIM" for r in rows) + " |")
            lines.append("|---|" + "---:|" * len(rows))
            for i, img in enumerate(rows[0].images):
                cells = [f"{r.images[i].psnr_y:.2f} / {r.images[i].ssim_y:.4f}" for r in rows]
                lines.append(f"| {img.name} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def format_csv(results: Sequence[DatasetResult]) -> str:
    """One row per image and one ``MEAN`` row per (dataset, method)."""
    out = ["dataset,method,scale,protocol,image,psnr_y,ssim_y,seconds"]
    for r in results:
        for img in r.images:
            out.append(f"{r.dataset},{r.method},{r.scale},{r.protocol},{img.name},{img.psnr_y:.6f},{img.ssim_y:.6f},")
        out.append(f"{r.dataset},{r.method},{r.scale},{r.protocol},MEAN,{r.psnr_y:.6f},{r.ssim_y:.6f},{r.seconds:.4f}")
    return "\n".join(out) + "\n"
