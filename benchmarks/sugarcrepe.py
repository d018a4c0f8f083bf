"""Our SugarCrepe evaluator vs the reference protocol, side by side in one run on the same model and benchmark.

    python benchmarks/sugarcrepe.py [--samples 200] [--model local-dir:PATH] [--threads 2] [--rounds 3]

The reference is SugarCrepe's `main_eval.py`: for each sample, one image is preprocessed and encoded alone and its
positive and its negative caption each encoded alone. Ours (`tripletclip.evals.sugarcrepe`) encodes each distinct
image and caption once, in batches. The benchmark is the shapes world's analogue (`--samples` per category); the
model is a trained one (`--model`) or the tiny config with seeded random weights (accuracies must match either way).
The two alternate for `--rounds` rounds, so that both see the machine's slow and fast spells; the first round is
the cold one an evaluation job meets. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tripletclip import models  # noqa: E402
from tripletclip.evals import sugarcrepe  # noqa: E402

WORLD = {"heldout_combos": 6, "image_size": 64, "hollow_rate": 0.2, "third_object_rate": 0.3}


@torch.no_grad()
def reference(model, preprocess, tokenizer, bench: Path) -> dict:
    """SugarCrepe's main_eval.py `text_retrieval`, sample by sample: positive, negative and image encoded alone."""
    results = {}
    for category, samples in sugarcrepe.load(bench).items():
        correct = 0
        for s in samples.values():
            pos = model.encode_text(tokenizer(s["caption"]), normalize=True)
            neg = model.encode_text(tokenizer(s["negative_caption"]), normalize=True)
            image = Image.open(bench / "images" / s["filename"])
            image = model.encode_image(preprocess(image).unsqueeze(dim=0), normalize=True)
            correct += int((pos @ image.T).item() > (neg @ image.T).item())
        results[category] = 100 * correct / len(samples)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="samples per category")
    parser.add_argument("--model", default="ViT-Tiny-P16-64")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=3, help="reference then ours, this many times")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, _, preprocess, tokenizer = models.create(args.model)
    model.eval()
    timings, results = {"reference": [], "ours": []}, {}
    with tempfile.TemporaryDirectory() as tmp:
        sugarcrepe.build_shapes(tmp, WORLD, {"samples_per_category": args.samples}, seed=0)
        for _ in range(args.rounds):
            # the reference tokenizes with open_clip's own tokenizer, as main_eval.py does; ours with its fast
            # path, its word cache empty each round as in a fresh evaluation job
            fresh = type(tokenizer)(tokenizer.tokenizer)
            for name, run in (("reference", lambda: reference(model, preprocess, tokenizer.tokenizer, Path(tmp))),
                              ("ours", lambda: sugarcrepe.evaluate(model, preprocess, fresh, {"benchmark": tmp})[0])):
                start = time.perf_counter()
                results[name] = run()
                timings[name].append(time.perf_counter() - start)
    n = 7 * args.samples
    identical = all(results["ours"][c] == results["reference"][c] for c in sugarcrepe.CATEGORIES)
    print(f"SugarCrepe evaluator, {args.model}, {n} samples ({args.samples} per category), {args.threads} threads, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}\n")
    print("| round | reference s | ours s | speed-up |\n|---|---:|---:|---:|")
    for i, (ref, ours) in enumerate(zip(timings["reference"], timings["ours"])):
        print(f"| {i + 1}{' (cold)' if i == 0 else ''} | {ref:.2f} | {ours:.2f} | {ref / ours:.1f}x |")
    best = {name: min(t) for name, t in timings.items()}  # the machine's noise only ever adds time
    median = {name: statistics.median(t) for name, t in timings.items()}
    print(f"\nSpeed-up of the fastest rounds: **{best['reference'] / best['ours']:.1f}x** ({n / best['reference']:.0f} "
          f"against {n / best['ours']:.0f} samples/s); of the medians: {median['reference'] / median['ours']:.1f}x; "
          f"accuracies identical: {identical} (avg {results['ours']['avg']:.2f} %)")
    if not identical:
        raise SystemExit(f"accuracies differ: ours {results['ours']} vs reference {results['reference']}")


if __name__ == "__main__":
    main()
