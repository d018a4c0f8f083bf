"""Images/s of the diffusers backend on the tests' tiny pipelines (random weights, built here), on the CPU.

    python benchmarks/synthesize.py [--images 32] [--rounds 3]

This measures our code around the pipeline call (per-sample generators, batching, JPEG files, resume checks) on
models small enough that that code is a visible share; a real model's speed is a GPU measurement. Rounds alternate
the configurations. Prints Markdown for BENCHMARKS.md.
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

from helpers import tiny_diffusion  # noqa: E402
from tripletclip import synthesize  # noqa: E402

CAPTIONS = ["a red car next to a tree", "two dogs on a couch", "a man riding a horse on a beach",
            "a blue vase on a wooden table", "a cat sleeping in a box", "a boat on a lake"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--image-size", type=int, default=64)
    args = p.parse_args()
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
