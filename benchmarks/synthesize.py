"""Images/s of the diffusers backend, through our synthesizer (per-sample generators, batching, JPEG files, resume
checks) as the synthesize stage runs it.

    python benchmarks/synthesize.py [--images 32] [--rounds 3]            # the tests' tiny pipelines, CPU
    python benchmarks/synthesize.py --full-sdxl [--images 128]            # full-size SDXL-turbo, GPU

The tiny pipelines (random weights, built here) make our code around the pipeline call a visible share. `--full-sdxl`
builds SDXL-turbo at full size from its published configs (benchmarks/sdxl_turbo/, as benchmarks/gpu_check.py does)
with random weights, since speed does not depend on weight values, saves it in fp16 and loads
it back as a downloaded model is loaded; then 512 px, 1 step, fp16, batch 1/8/16. Rounds alternate the
configurations. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import gpu_check  # noqa: E402
from helpers import tiny_diffusion  # noqa: E402
from tripletclip import synthesize  # noqa: E402

CAPTIONS = ["a red car next to a tree", "two dogs on a couch", "a man riding a horse on a beach",
            "a blue vase on a wooden table", "a cat sleeping in a box", "a boat on a lake"]


def full_sdxl(args) -> None:
    """512 px, 1 step, fp16 images/s of full-size SDXL-turbo at batch 1, 8 and 16, on the GPU."""
    import torch

    requests = [(str(i), CAPTIONS[i % len(CAPTIONS)], None) for i in range(args.images)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = gpu_check.build_sdxl_turbo(Path(tmp) / "sdxl-turbo", tiny=False, device="cuda")
        synth = synthesize.make_synthesizer("diffusers", model=str(path), image_size=512, steps=1, batch_size=16,
                                            dtype="float16")
        unet = sum(p.numel() for p in synth.pipe.unet.parameters())
        print(f"built, saved and loaded in {time.perf_counter() - start:.0f} s; UNet {unet / 1e9:.3f} B parameters",
              flush=True)
        sizes = (1, 8, 16)
        for bs in sizes:  # warm-up: kernels and allocator per batch shape
            synth.batch_size = bs
            synth.synthesize([(f"warm{i}", CAPTIONS[0]) for i in range(bs)])
        times = {bs: [] for bs in sizes}
        for r in range(args.rounds):
            for bs in sizes:
                synth.batch_size = bs
                out = Path(tmp) / f"out{r}-{bs}"
                torch.cuda.synchronize()
                start = time.perf_counter()
                synthesize.synthesize_to_dir(requests, out, synth, batch_size=bs)
                times[bs].append(time.perf_counter() - start)
                shutil.rmtree(out)
                print(f"round {r}, batch {bs}: {args.images / times[bs][-1]:.1f} images/s", flush=True)
    print(f"\n{torch.cuda.get_device_name()}, torch {torch.__version__}; SDXL-turbo at full size (UNet "
          f"{unet / 1e9:.2f} B parameters, random weights), 512 px, 1 step, guidance 0, fp16 (the VAE upcasts to "
          f"fp32 as sdxl-turbo's config asks); {args.images} images to JPEG files, median of {args.rounds} rounds.\n")
    print("| batch | images/s |")
    print("|---:|---:|")
    for bs, t in times.items():
        print(f"| {bs} | {args.images / statistics.median(t):.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--full-sdxl", action="store_true", help="full-size SDXL-turbo on the GPU (see above)")
    args = p.parse_args()
    if args.full_sdxl:
        return full_sdxl(args)
    requests = [(str(i), CAPTIONS[i % len(CAPTIONS)], None) for i in range(args.images)]
    with tempfile.TemporaryDirectory() as tmp:
        models = {"tiny SD 1.x (DDIM, 2 steps)": (tiny_diffusion.build_sd(Path(tmp) / "sd"), 2),
                  "tiny SDXL-turbo (Euler a, 1 step)": (tiny_diffusion.build_sdxl_turbo(Path(tmp) / "sdxl"), 1)}
        synths = {(name, bs): synthesize.make_synthesizer("diffusers", model=str(path), image_size=args.image_size,
                                                          steps=steps, batch_size=bs)
                  for name, (path, steps) in models.items() for bs in (1, 8)}
        times = {key: [] for key in synths}
        for synth in synths.values():
            synth.synthesize([("warm", CAPTIONS[0])])
        for r in range(args.rounds):
            for key, synth in synths.items():
                out = Path(tmp) / f"out{r}"
                start = time.perf_counter()
                synthesize.synthesize_to_dir(requests, out, synth, batch_size=key[1])
                times[key].append(time.perf_counter() - start)
                shutil.rmtree(out)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, CPU, fp32; {args.images} images of "
          f"{args.image_size} px to JPEG files, median of {args.rounds} alternating rounds.\n")
    print("| pipeline | batch | images/s |")
    print("|---|---:|---:|")
    for (name, bs), t in times.items():
        print(f"| {name} | {bs} | {args.images / statistics.median(t):.1f} |")


if __name__ == "__main__":
    main()
