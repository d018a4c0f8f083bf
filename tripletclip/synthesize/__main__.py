"""python -m tripletclip.synthesize: negative images for any caption file, outside the DAG, with the DAG's code.

    python -m tripletclip.synthesize --backend diffusers --model stabilityai/sdxl-turbo negatives.jsonl -o images/

INPUT is the negate stage's output (the first negative of each caption) or a text file (one caption per line).
OUTDIR gets {key}.jpg per caption (a text file's keys are line numbers) and stats.json; rerun, it generates only
what is missing, and the same key always gives the same image.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import BACKENDS, make_synthesizer
from .diffusion import DEFAULT_MODEL
from .stage import synthesize_file


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tripletclip.synthesize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="the output directory")
    p.add_argument("--backend", choices=BACKENDS, default="diffusers")
    p.add_argument("--model", default=DEFAULT_MODEL, help="a hub id or a local pipeline directory")
    p.add_argument("--image-size", type=int, default=512)
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--guidance-scale", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"))
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
