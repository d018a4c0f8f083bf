"""The evaluation suite: one module per benchmark, each with the same three entry points.

- `build_shapes(out_dir, world, options, seed) -> spec`: write the shapes world's analogue of the benchmark in the
  real benchmark's own file format and return its spec (paths relative to `out_dir`).
- `evaluate(model, preprocess, tokenizer, spec, root=".", batch_size=256, device="cpu") -> (metrics, details,
  samples)`: run the benchmark's protocol on a spec (from config for the real data, or from `build_shapes`), with
  paths relative to `root`. `metrics` is a flat {name: value}; `details` whatever the report plots (per-sample
  values, per-group accuracies); `samples` a pandas DataFrame, one row per scored item, the module's `COLUMNS`.
- `metrics_from_samples(samples) -> metrics`: the metrics of such a table. `evaluate` computes its metrics with it
  (the same floats as before the table existed), so that the table and the metrics never disagree.

Every table has `category` (str: what a metric groups by) and `sample_id` (str: the item's id within its
category, stable from run to run), and, except similarity's, `correct` (bool). The rest is the benchmark's own: its
module's `COLUMNS` lists them, and its `metrics_from_samples` says exactly what each holds (so that adding a benchmark
touches its module, not this list). The error browser reads the columns `image`, `image_0`, `image_1`,
`negative_image` (image paths) and `caption`, `negative_caption`, `caption_0`, `caption_1` (texts) where a table has
them; the text-only scorers of tripletclip.blind read `caption` and `negative_caption` / `negative_captions`.
"""
from __future__ import annotations

from .registry import REGISTRY, get

BENCHMARKS = tuple(REGISTRY)  # in suite order (the registry's)
# The benchmarks with a shapes analogue (the rest run on real data only): config.yaml's default suite
SHAPES_BENCHMARKS = tuple(name for name, b in REGISTRY.items() if b.analogue)
# The benchmarks that pick between captions, whose items the text-only scorers of tripletclip.blind can take (rule
# blind): a module scores them blind with its `score_blind` where it has one, else `blind.score_items`.
BLIND_BENCHMARKS = tuple(name for name, b in REGISTRY.items() if b.blind)


def module(benchmark: str):
    """The module of `benchmark` (imports torch); ValueError naming the known ones for any other name."""
    return get(benchmark).module()
