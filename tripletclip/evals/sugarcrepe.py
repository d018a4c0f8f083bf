"""SugarCrepe (Hsieh et al., NeurIPS 2023): its format, its protocol (batched), and the shapes world's analogue.

Format (RAIVNLab/sugar-crepe, `data/`): a folder of seven `{category}.json` files, each {id: {"filename", "caption",
"negative_caption"}}, and an image folder (COCO val2017). Protocol (its `main_eval.py`): with L2-normalized
embeddings a sample is correct iff the positive caption scores strictly higher against the image than the negative
(`protocols.choose_caption`); accuracy per category. `avg` is the mean of the seven categories, each group's mean
(`replace`, `swap`, `add`) that of its members, `avg_groups` the mean of the three groups' and `avg_samples` the
accuracy over all samples (`metrics_from_samples`), so a folder must hold all seven files: one that lacks any fails,
naming what is missing.

The first release (commit 42b927f, 2023-06-06) named three files `replace_ent.json`, `swap_ent.json` and
`add_ent.json`. It is not the benchmark with other names: commit 6e45274 (2023-06-23, "filter false negative")
replaced all seven files, e.g. swap_ent's 730 samples became swap_obj's 245 and add_att's 2,152 became 692; the
paper (arXiv 2306.14610, three days later) reports on today's files, 7,511 samples in all. A folder of that release
is refused with this explanation rather than read under the new names.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import io, shapes, world
from . import encode, protocols

# The paper's column order: Replace (obj, att, rel), Swap (obj, att), Add (obj, att).
CATEGORIES = ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att")
GROUPS = {"replace": CATEGORIES[:3], "swap": CATEGORIES[3:5], "add": CATEGORIES[5:]}
FIRST_RELEASE = ("replace_ent", "swap_ent", "add_ent")  # commit 42b927f's names, superseded (see above)
FIELDS = ("filename", "caption", "negative_caption")
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "score_positive", "score_negative", "image", "caption",
           "negative_caption")


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """The seven categories from test-split scenes only, refined so that no blind scorer beats chance.

    Every image holds a colour-shape combination never seen in training (`world.test_scenes`, stream "sugarcrepe");
    categories share images, as SugarCrepe's share COCO images. Per category, the candidates are, for each scene of
    the stream in turn:

    - replace_obj, replace_att, replace_rel, swap_obj, swap_att: the shapes world's negative of that type (one drawn
      per scene), worded as the positive is;
    - add_obj: "add", a scene of two objects against the caption that adds a filled third object (the world's
      negative), or "remove", a scene whose free-standing third object the negative leaves out. The world's captions
      name every object, so a caption that omits one is false of the image;
    - add_att: "add", the caption calling a filled object hollow (the world's negative), or "remove", a hollow
      object described without "hollow", i.e. as filled (filled is the attribute left unsaid), equally false.

    An add negative is always the longer caption, so no choice among add negatives alone can fool `Shorter` (or
    "prefer fewer objects", "prefer fewer 'hollow'"): the remove direction is what balances them, half and half.

    Refinement, after SugarCrepe's (Hsieh et al. 2023; RAIVNLab/sugar-crepe `adversarial_refine.py`, which
    kept the score gaps of two text-only models, Vera and a grammar model, symmetric about zero): the blind scorers
    of `tripletclip.blind` (`Shorter`, `Frequent`, `Ngram`, `Novel`, the last three fitted on the first
    `blind.BUILD_CAPTIONS` training captions, `blind.training_captions`) score both captions of every candidate. Each
    candidate gets a key: per scorer, which caption it prefers (an exact tie: `blind.tie_break`'s coin, as
    `blind.blind_samples` settles it) and by how much (a count's exact gap, so `Shorter`'s is the word-count
    difference; a continuous score's gap in tertiles over the category's candidates). Candidates are taken in the
    stream's order and kept only in pairs of mirrored keys, each scorer preferring the other caption by as much,
    from two different scenes, until the category holds `samples_per_category` (an odd last one: the candidate that
    unbalances least). So every blind scorer is right on exactly half of a category's samples, the positives and
    the negatives have the same mean word count, and the joint distribution of the scorers' gaps is near
    symmetric, which leaves their combinations near chance too. The search (`blind.balanced`) starts with
    `blind.POOL` test scenes per sample and doubles up to `blind.POOL_MAX`; a category that still cannot be balanced
    (e.g. add_obj in a world with no third objects) is filled with the candidates that unbalance least, with a
    warning. Samples are written in the stream's order; the build is deterministic for a seed.

    Beside the seven files and images/: `blind.json`, {"accuracy": {model: {category: accuracy %}} of each blind
    scorer on the built benchmark (`blind.blind_samples`, models "blind-shorter", "blind-frequent", "blind-ngram",
    "blind-novel"), "mean_words": {category: {"caption": mean words, "negative_caption": mean words}},
    "training_captions": the number the scorers were fitted on}."""
    from .. import blind

    n = options["samples_per_category"]
    scorers = blind.fit_scorers(blind.training_captions(world_cfg, seed, blind.BUILD_CAPTIONS))
    stream = world.test_scenes(world_cfg, seed, "sugarcrepe")
    make = lambda scene, idx, category: _candidates(scene, idx, category, seed)  # noqa: E731
    pool: list = []
    data, used = {}, {}
    for category in CATEGORIES:
        kept = blind.balanced(stream, pool, make, category, scorers, n, "SugarCrepe")
        data[category] = {}
        for idx, scene, caption, negative in kept:
            filename = f"{idx:06d}.jpg"
            data[category][str(len(data[category]))] = {"filename": filename, "caption": caption,
                                                        "negative_caption": negative}
            used[filename] = scene
    world.render_all(Path(out_dir) / "images", dict(sorted(used.items())), world_cfg["image_size"], f"sugarcrepe:{seed}")
    for category, samples in data.items():
        io.write_json(Path(out_dir) / f"{category}.json", samples)
    pairs = pd.DataFrame([{"category": c, "sample_id": k, **s} for c, d in data.items() for k, s in d.items()],
                         columns=["category", "sample_id", *FIELDS])
    io.write_json(Path(out_dir) / "blind.json", blind.build_report(pairs, scorers))
    return {"benchmark": ".", "image_dir": "images"}


def _candidates(item: tuple, idx: int, category: str, seed: int) -> list[tuple]:
    """(scene index, scene, caption, negative caption) of the candidates a test scene offers for `category`: the
    world's negative of that type, and for add_obj / add_att the "remove" direction (see `build_shapes`)."""
    scene, phrasing = item
    rng = shapes.keyed_rng("sugarcrepe", seed, category, idx)
    negatives = [shapes.negative(scene, category, rng)]
    if category == "add_obj" and len(scene.objects) == 3:
        negatives.append(shapes.Scene(scene.objects[:2], scene.relation))
    if category == "add_att":
        hollow = [i for i, o in enumerate(scene.objects) if o.hollow]
        if hollow:
            objects = list(scene.objects)
            i = rng.choice(hollow)
            objects[i] = shapes.Obj(objects[i].size, objects[i].colour, objects[i].shape, hollow=False)
            negatives.append(shapes.Scene(tuple(objects), scene.relation))
    caption = shapes.describe(scene, phrasing)
    return [(idx, scene, caption, shapes.describe(neg, phrasing)) for neg in negatives if neg is not None]


def load(bench_dir: str | Path) -> dict[str, dict]:
    """{category: {id: sample}} for the seven categories, in `CATEGORIES` order, each file read as UTF-8.

    Raises FileNotFoundError when `bench_dir` is not a folder or lacks any of the seven files (naming those missing,
    and explaining the first release's `*_ent.json` when they are there), ValueError when a file is not
    {id: {"filename", "caption", "negative_caption"}} or has no sample."""
    bench = Path(bench_dir)
    expected = [f"{c}.json" for c in CATEGORIES]
    if not bench.is_dir():
        raise FileNotFoundError(f"SugarCrepe: expected a folder holding {', '.join(expected)}; {bench} is not a folder")
    missing = [name for name in expected if not (bench / name).is_file()]
    if missing:
        message = f"SugarCrepe: {bench} lacks {len(missing)} of the 7 category files: {', '.join(missing)}"
        old = [f"{name}.json" for name in FIRST_RELEASE if (bench / f"{name}.json").is_file()]
        if old:
            message += (f". It holds {', '.join(old)}: the first release (RAIVNLab/sugar-crepe 42b927f, 2023-06-06), "
                        f"whose seven files were all replaced by the false-negative-filtered data the paper reports "
                        f"(6e45274, 2023-06-23); download data/ of RAIVNLab/sugar-crepe again")
        raise FileNotFoundError(message)
    data = {}
    for category in CATEGORIES:
        what = f"SugarCrepe {bench / category}.json"
        samples = encode.read_json(bench / f"{category}.json", what)
        if not isinstance(samples, dict) or not samples:
            raise ValueError(f"{what}: expected a non-empty {{id: {{{', '.join(FIELDS)}}}}}, found "
                             f"{'an empty ' if not samples else 'a '}{type(samples).__name__}")
        encode.require_fields(list(samples.values()), FIELDS, what)
        data[category] = samples
    return data


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): accuracy (%) per category, each group's mean and `avg`, the mean of the seven
    categories (`metrics_from_samples` of the table); details {"samples": {category: count}}; the table, one row per
    sample in `CATEGORIES` order and each file's order, with the columns `COLUMNS` (see `metrics_from_samples`).
    Images are read from `spec["image_dir"]` (default: the benchmark folder's `images/`), as SugarCrepe's script
    takes COCO's. A folder that lacks a category file, or an image a sample names, fails before anything is encoded
    (`load`)."""
    bench = encode.resolve(root, spec["benchmark"])
    image_dir = encode.resolve(root, spec.get("image_dir")) or bench / "images"
    data = load(bench)
    filenames, image_row = encode.index(sorted(s["filename"] for d in data.values() for s in d.values()))
    encode.require_files([image_dir / f for f in filenames], f"SugarCrepe images in {image_dir} (COCO val2017)")
    captions, caption_row = encode.index(sorted(c for d in data.values() for s in d.values()
                                                for c in (s["caption"], s["negative_caption"])))
    image_features = encode.images(model, preprocess, [image_dir / f for f in filenames], batch_size, device)
    text_features = encode.texts(model, tokenizer, captions, batch_size, device)
    rows = []
    for category, samples in data.items():
        choice = protocols.choose_caption(
            image_features[[image_row[s["filename"]] for s in samples.values()]],
            [text_features[[caption_row[s[c]] for s in samples.values()]] for c in ("caption", "negative_caption")])
        # the comparison is made on the float32 scores; as float64 in the table they order the same way
        for (key, s), (p, n), ok in zip(samples.items(), choice.scores.tolist(), choice.correct.tolist()):
            rows.append({"category": category, "sample_id": str(key), "correct": ok, "score_positive": p,
                         "score_negative": n, "image": s["filename"], "caption": s["caption"],
                         "negative_caption": s["negative_caption"]})
    table = pd.DataFrame(rows, columns=COLUMNS)
    return metrics_from_samples(table), {"samples": {c: len(s) for c, s in data.items()}}, table


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """The metrics of a table of `evaluate`'s: {category: accuracy %} in `CATEGORIES` order, then the groups
    (`replace`, `swap`, `add`: the mean of their members) and the three "averages" the literature reports under
    one name, 2-3 points apart on the real benchmark (its categories hold 245 to 2,062 samples):
    - `avg`: the mean of the seven categories (TripletCLIP's Table 2 and 4, "avg of 7"; the headline here);
    - `avg_groups`: the mean of the three group means (replace, swap, add), which weighs add_obj and add_att, for
      instance, half as much each as one of swap's two;
    - `avg_samples`: the accuracy over every sample (7,511 on the real benchmark), weighted by category size.

    Columns, one row per sample: category (one of `CATEGORIES`), sample_id (the sample's key in `{category}.json`),
    correct (bool: score_positive > score_negative, strictly: a tie is wrong), score_positive / score_negative (the
    cosine similarity of the image and the caption / the negative caption), image (the file name as the JSON
    gives it, in the image folder), caption, negative_caption. ValueError when a category has no row."""
    results = {}
    for category in CATEGORIES:
        correct = samples.loc[samples["category"] == category, "correct"]
        if correct.empty:
            raise ValueError(f"SugarCrepe: no sample of {category}; the metrics need all of {', '.join(CATEGORIES)}")
        # 100 * count / n in that order, as the metrics were first computed: the same floats
        results[category] = 100 * int(correct.sum()) / len(correct)
    for group, members in GROUPS.items():
        results[group] = sum(results[c] for c in members) / len(members)
    results["avg"] = sum(results[c] for c in CATEGORIES) / len(CATEGORIES)
    results["avg_groups"] = sum(results[g] for g in GROUPS) / len(GROUPS)
    results["avg_samples"] = 100 * int(samples["correct"].sum()) / len(samples)
    return results
