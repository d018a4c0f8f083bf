"""The synthesize stage: a negative image for every negative caption.

Backends (config `synthesize.backend`, or `--backend` of `python -m tripletclip.synthesize`): `shapes`, the
embedded default's renderer (shapes.py), and `diffusers`, any text-to-image pipeline (diffusion.py). A backend's
`synthesize(items)` returns, per (key, caption), an image or the reason there is none ("error", "nsfw", and for a
degenerate output "nonfinite_latents", "nonfinite_image", "uniform_image"); stage.py runs it with per-sample resume.
"""

from __future__ import annotations

from .stage import read_requests, synthesize_file, synthesize_shard, synthesize_to_dir

BACKENDS = ("shapes", "diffusers")


def make_synthesizer(backend: str, **options):
    if backend == "shapes":
        from .shapes import ShapesSynthesizer

        return ShapesSynthesizer(**options)
    if backend == "diffusers":
        from .diffusion import DiffusersSynthesizer

        return DiffusersSynthesizer(**options)
    raise ValueError(f"unknown synthesis backend {backend!r}; expected one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "make_synthesizer", "read_requests", "synthesize_file", "synthesize_shard",
           "synthesize_to_dir"]
