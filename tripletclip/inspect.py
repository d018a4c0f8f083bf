"""Look inside any output the pipeline writes: `python -m tripletclip.inspect PATH -n 8 [--sheet out.png]`.

- a webdataset shard (`.tar`: download, synthesize, pack, filter): each sample's key, caption, negative caption and
  negative type (what the shard has of them), and with `--sheet` a contact sheet: image | negative image, with both
  captions;
- the negate stage's JSON lines (`results/negate/*.jsonl`): each caption, its status and every negative with its type;
- a JSON the pipeline writes: an evaluation's metrics (`results/eval/...`), the filter's scores, a stage's stats;
- img2dataset's per-shard table (`results/download/*.parquet`).

A file of another kind gets one line saying what it is not and what was expected.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import textwrap
from pathlib import Path

from . import io, logs

EXPECTED = ("a webdataset .tar shard, the negate stage's .jsonl, an evaluation, scores or stats .json, or a download "
            ".parquet")


class Unknown(ValueError):
    """A file that is not one of the pipeline's outputs."""


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
    files = ", ".join(sorted(k for k in sample if not k.startswith("__")))
    lines = [f"key       {sample['__key__']}   files: {files}"]
    if "txt" in sample:
        lines.append(f"caption   {_text(sample, 'txt')}")
    if "neg.txt" in sample:
        lines.append(f"negative  {_text(sample, 'neg.txt')}")
    if "neg_type" in meta:
        types = ", ".join(meta.get("neg_types", [meta["neg_type"]]))
        lines.append(f"type      {types}  (negate: {meta.get('negate_backend')}, "
                     f"synthesize: {meta.get('synthesize_backend')})")
    return "\n".join(lines)


def describe_negation(row: dict) -> str:
    """One row of the negate stage's output: the caption, its status, each negative with its type."""
    lines = [f"key       {row['key']}   status: {row['status']}   backend: {row.get('backend')}   "
             f"attempts: {row.get('attempts')}",
             f"caption   {row.get('caption')}"]
    lines += [f"negative  [{n.get('type')}] {n.get('text')}" for n in row["negatives"]]
    if row.get("rejected"):
        lines.append(f"rejected  {', '.join(row['rejected'])}")
    return "\n".join(lines)


def show_jsonl(path: Path, n: int) -> str:
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise Unknown(f"line {number} is not JSON") from None
            if not isinstance(row, dict) or not {"key", "negatives", "status"} <= row.keys():
                raise Unknown(f"line {number} is not a row of the negate stage (key, caption, negatives, status)")
            rows.append(row)
    statuses = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    head = f"{len(rows)} captions: " + ", ".join(f"{v} {k}" for k, v in sorted(statuses.items()))
    return "\n\n".join([head] + [describe_negation(row) for row in rows[:n]])


def show_json(path: Path, n: int) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and {"benchmark", "method", "seed", "metrics"} <= data.keys():
        lines = [f"{data['benchmark']}: {data['method']} seed {data['seed']}"]
        lines += [f"  {metric:<32} {value:10.4f}" for metric, value in data["metrics"].items()]
        return "\n".join(lines)
    if isinstance(data, dict) and data and all(isinstance(v, dict) and {"pos", "neg", "score"} <= v.keys()
                                               for v in data.values()):
        scores = sorted(v["score"] for v in data.values())
        lines = [f"filter scores of {len(scores)} triplets: min {scores[0]:.4f}, median "
                 f"{statistics.median(scores):.4f}, max {scores[-1]:.4f}"]
        lines += [f"  {key}  score {v['score']:.4f} (s(x, y) {v['pos']:.4f}, s(x', y') {v['neg']:.4f})"
                  for key, v in list(data.items())[:n]]
        return "\n".join(lines)
    if isinstance(data, dict) and ({"in"} <= data.keys() or {"count", "successes"} <= data.keys()):
        return f"stats of {path.name}:\n" + json.dumps(data, indent=2, ensure_ascii=False)
    raise Unknown("a JSON, but neither an evaluation (benchmark, method, seed, metrics), the filter's scores nor a "
                  "stage's stats")


def show_parquet(path: Path, n: int) -> str:
    import pandas as pd

    frame = pd.read_parquet(path)
    return f"{len(frame)} rows, columns {list(frame.columns)}\n" + frame.head(n).to_string()


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
    parser.add_argument("path", help=f"what to look at: {EXPECTED}")
    parser.add_argument("-n", type=int, default=8, help="how many samples or rows (default 8)")
    parser.add_argument("--sheet", metavar="PNG", help="with a shard: also write a contact sheet here")
    args = parser.parse_args(argv)
    logs.console()
    path = Path(args.path)
    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    suffix = path.suffix.lower()
    try:
        if suffix == ".tar":
            return show_shard(args)
        show = {".jsonl": show_jsonl, ".json": show_json, ".parquet": show_parquet}.get(suffix)
        if show is None:
            raise Unknown(f"its suffix {suffix or '(none)'!r} is none of .tar, .jsonl, .json, .parquet")
        print(show(path, args.n))
    except (Unknown, UnicodeDecodeError, json.JSONDecodeError, OSError, ValueError) as e:
        print(f"error: {path} is not an output this tool reads ({e}); expected {EXPECTED}", file=sys.stderr)
        return 2
    return 0


def show_shard(args) -> int:
    samples, errors = read(args.path, args.n)
    for sample in samples:
        print(describe(sample), end="\n\n")
    for e in errors:
        print(f"warning: {e}", file=sys.stderr)
    if not samples and errors:
        print(f"error: {args.path} holds no readable sample; expected {EXPECTED}", file=sys.stderr)
        return 2
    if args.sheet and samples:
        contact_sheet(samples, args.sheet)
        print(f"contact sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
