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
category, stable from run to run), and, except similarity's, `correct` (bool). The rest, per benchmark (each
module's `metrics_from_samples` says exactly what each column holds):
- sugarcrepe: category (replace_obj, ...), sample_id (the key in {category}.json), correct (score_positive >
  score_negative), score_positive, score_negative, image (file name), caption, negative_caption.
- retrieval: category ({dataset}_i2t, {dataset}_t2i), sample_id (imgid / sentid, else the position), correct
  (rank == 1), rank (1-based, of the first correct match), image, caption, retrieved (what ranked first).
- zeroshot: category (the dataset), sample_id (class folder/file), correct (top-1), rank (of the true class),
  label, predicted (class names), label_index, predicted_index; sample_id is the class folder/file, or the
  webdataset `__key__` of a CLIP_benchmark dataset.
- aro: category (the dataset), sample_id (the index in the annotations; order: "{entry}/{caption}"), correct,
  score_positive, score_negative (the best-scoring false caption), image, caption, negative_caption, kind, group
  (relation_name, "{a}_{b}" attribute pair; None for order), averaged (the row's group enters {dataset}'s macro
  average), scores_negative, negative_captions (lists: every false caption).
- winoground: category (the tag), sample_id (the id), correct (group_correct), c0_i0, c0_i1, c1_i0, c1_i1
  (s(caption_j, image_k)), text_correct, image_correct, group_correct, caption_0, caption_1, image_0, image_1 (the
  images' names).
- sugarcrepe_pp: category ({subset}_itt, {subset}_tot), sample_id (the entry's "id"), correct (ITT: s(I,P1) >
  s(I,N) and s(I,P2) > s(I,N); TOT: s(P1,P2) > s(P1,N) and > s(P2,N); strict), task, subset, score_positive,
  score_negative, image_caption, image_caption2, image_negative, caption_caption2, caption_negative,
  caption2_negative, image, caption, caption2, negative_caption.
- valse: category (the piece: existence, ..., foil-it), sample_id (the key in {piece}.json), correct,
  score_positive, score_negative, image (image_file), caption, negative_caption (the foil), dataset.
- vl_checklist: category (the file, e.g. Object_Size_large_vg_subj), sample_id (the entry's index), correct,
  score_positive, score_negative, image, caption, negative_caption (first POS / NEG), subtype, source.
- cola: category ("multi_object"), sample_id (position), correct (image_correct: Cola's own metric), c0_i0 ...
  c1_i1, text/image/group_correct, caption_0, caption_1, image_0, image_1 ({id}.jpg).
- bivlc: category ("{type}_{subtype}"), sample_id (position), correct (group_correct), c0_i0 ... c1_i1, ipos_2t,
  ineg_2t, tpos_2i, tneg_2i, i2t/t2i/group_correct, type, subtype, caption_0/1, image_0/1.
- whatsup: category (the dataset: controlled_a, ..., vg_qa_two; controlled_shapes), sample_id (the entry's index),
  correct (the true option scores highest, a tie going to it), score_positive, score_negative (the best false
  option), image (its path in the data folder), caption, negative_caption, group (the authors' preposition), pair,
  relation (Controlled), scores_negative, negative_captions (lists: every false option).
- colorswap: category (the example's image_source), sample_id (its id), correct (group_correct), c0_i0 ... c1_i1,
  text/image/group_correct, caption_0/1, image_0/1 (as the JSON writes them, relative to the data folder).
- similarity: category (image, text), sample_id (the triplet's key), cosine, shard, caption, negative_caption; no
  `correct` column: a positive and its negative have no right answer.
"""
from __future__ import annotations

from .registry import REGISTRY, get

BENCHMARKS = tuple(REGISTRY)  # in suite order (the registry's)
# The benchmarks that pick between captions, whose items the text-only scorers of tripletclip.blind can take (rule
# blind): a module scores them blind with its `score_blind` where it has one, else `blind.score_items`.
BLIND_BENCHMARKS = tuple(name for name, b in REGISTRY.items() if b.blind)


def module(benchmark: str):
    """The module of `benchmark` (imports torch); ValueError naming the known ones for any other name."""
    return get(benchmark).module()
