"""Look inside any shard the pipeline wrote: `python -m tripletclip.inspect SHARD.tar -n 8 [--sheet out.png]`.

Prints each sample's key, caption, negative caption and negative type (what the shard has of them) and can draw a
contact sheet: image | negative image, with both captions.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from . import io


def _text(sample: dict, ext: str) -> str | None:
    return sample[ext].decode("utf-8", errors="replace") if ext in sample else None


def read(path: str, n: int) -> tuple[list[dict], list[str]]:
    errors: list[str] = []
    samples = []
    for sample in io.iter_shard(path, errors):
        samples.append(sample)
        if len(samples) == n:
            break
    return samples, errors


def describe(sample: dict) -> str:
    meta = json.loads(sample["json"]) if "json" in sample else {}
    lines = [f"key       {sample['__key__']}   files: {', '.join(sorted(k for k in sample if not k.startswith('__')))}"]
    if "txt" in sample:
        lines.append(f"caption   {_text(sample, 'txt')}")
    if "neg.txt" in sample:
        lines.append(f"negative  {_text(sample, 'neg.txt')}")
    if "neg_type" in meta:
        types = ", ".join(meta.get("neg_types", [meta["neg_type"]]))
        lines.append(f"type      {types}  (negate: {meta.get('negate_backend')}, "
                     f"synthesize: {meta.get('synthesize_backend')})")
    return "\n".join(lines)


def contact_sheet(samples: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_neg = any("neg.jpg" in s for s in samples)
    cols = 2 if has_neg else 1
    fig, axes = plt.subplots(len(samples), cols, figsize=(3.2 * cols, 2.6 * len(samples)), squeeze=False)
    for row, sample in zip(axes, samples):
        for ax, (img_ext, txt_ext) in zip(row, [("jpg", "txt"), ("neg.jpg", "neg.txt")][:cols]):
            ax.axis("off")
            if img_ext in sample:
                ax.imshow(io.decode_image(sample[img_ext]))
            caption = _text(sample, txt_ext) or ""
            ax.set_title("\n".join(textwrap.wrap(caption, 34)), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tripletclip.inspect", description=__doc__.split("\n\n")[0])
    parser.add_argument("shard", help="a webdataset .tar written by the pipeline")
    parser.add_argument("-n", type=int, default=8, help="how many samples (default 8)")
    parser.add_argument("--sheet", metavar="PNG", help="also write a contact sheet here")
    args = parser.parse_args(argv)
    try:
        samples, errors = read(args.shard, args.n)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for sample in samples:
        print(describe(sample), end="\n\n")
    for e in errors:
        print(f"warning: {e}", file=sys.stderr)
    if args.sheet and samples:
        contact_sheet(samples, args.sheet)
        print(f"contact sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
