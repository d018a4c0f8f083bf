"""python -m tripletclip.synthesize: negative images for any caption file, outside the DAG, with the DAG's code.

    python -m tripletclip.synthesize --backend diffusers --model stabilityai/sdxl-turbo negatives.jsonl -o images/

INPUT is the negate stage's output (the first negative of each caption) or a text file (one caption per line).
OUTDIR gets {key}.jpg per caption (a text file's keys are line numbers), {key}.failed holding the reason for one
without an image, and stats.json; rerun, it generates only what is missing, and the same key always gives the same
image. A hub id is read from the local Hugging Face cache when it is there; with HF_HUB_OFFLINE=1, only from there.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import BACKENDS, make_synthesizer
from .diffusion import DEFAULT_MODEL
from .stage import synthesize_file


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tripletclip.synthesize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="negatives.jsonl from the negate stage, or a text file of captions")
    p.add_argument("-o", "--output", metavar="OUTDIR", required=True, help="the output directory")
    p.add_argument("--backend", choices=BACKENDS, default="diffusers")
    p.add_argument("--model", default=DEFAULT_MODEL, help="a hub id or a local pipeline directory")
    p.add_argument("--image-size", type=positive, default=512, help="pixels per side (default: %(default)s)")
    p.add_argument("--steps", type=positive, default=1, help="denoising steps (default: %(default)s)")
    p.add_argument("--guidance-scale", type=float, default=0.0, help="classifier-free guidance (default: 0, none)")
    p.add_argument("--batch-size", type=positive, default=8, help="images per model call (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="with the key, decides each image (default: %(default)s)")
    p.add_argument("--device", default="auto", help="cuda, cuda:1, cpu... (default: cuda when there is one)")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"),
                   help="the model's weights (default: float16 on a GPU, float32 on the CPU)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = {"image_size": args.image_size, "seed": args.seed}
    if args.backend == "diffusers":
        options.update(model=args.model, steps=args.steps, guidance_scale=args.guidance_scale,
                       batch_size=args.batch_size, device=args.device, dtype=args.dtype)
    try:
        stats = synthesize_file(args.input, args.output, make_synthesizer(args.backend, **options), args.batch_size)
    except (OSError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
