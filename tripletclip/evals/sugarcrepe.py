"""SugarCrepe (Hsieh et al., NeurIPS 2023): its format, its protocol (batched), and the shapes world's analogue.

Format (RAIVNLab/sugar-crepe, `data/`): a folder of seven `{category}.json` files, each {id: {"filename", "caption",
"negative_caption"}}, and an image folder (COCO val2017). Protocol (its `main_eval.py`): with L2-normalized
embeddings a sample is correct iff the positive caption scores strictly higher against the image than the negative;
accuracy per category. `avg` is the mean of the seven categories and each group's mean (`replace`, `swap`, `add`)
that of its members, so a folder must hold all seven files: one that lacks any fails, naming what is missing.

The first release (commit 42b927f, 2023-06-06) named three files `replace_ent.json`, `swap_ent.json` and
`add_ent.json`. It is not the benchmark with other names: commit 6e45274 (2023-06-23, "filter false negative")
replaced all seven files, e.g. swap_ent's 730 samples became swap_obj's 245 and add_att's 2,152 became 692; the
paper (arXiv 2306.14610, three days later) reports on today's files, 7,511 samples in all. A folder of that release
is refused with this explanation rather than read under the new names.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from .. import io, shapes, world
from . import encode

# The paper's column order: Replace (obj, att, rel), Swap (obj, att), Add (obj, att).
CATEGORIES = ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att")
GROUPS = {"replace": CATEGORIES[:3], "swap": CATEGORIES[3:5], "add": CATEGORIES[5:]}
FIRST_RELEASE = ("replace_ent", "swap_ent", "add_ent")  # commit 42b927f's names, superseded (see above)
FIELDS = ("filename", "caption", "negative_caption")


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """The seven categories from test-split scenes only: every image holds a colour-shape combination never seen
    in training; a category's negative is the shapes world's negative of that type. Categories share images, as
    SugarCrepe's share COCO images."""
    n = options["samples_per_category"]
    pool = list(itertools.islice(world.test_scenes(world_cfg, seed, "sugarcrepe"), 2 * n))
    rng = shapes.keyed_rng("sugarcrepe", seed)
    data, used = {}, {}
    for category in CATEGORIES:
        order = list(range(len(pool)))
        rng.shuffle(order)
        data[category] = {}
        for idx in order:
            if len(data[category]) == n:
                break
            scene, phrasing = pool[idx]
            neg = shapes.negative(scene, category, rng)
            if neg is None:
                continue
            filename = f"{idx:06d}.jpg"
            data[category][str(len(data[category]))] = {
                "filename": filename, "caption": shapes.describe(scene, phrasing),
                "negative_caption": shapes.describe(neg, phrasing)}
            used[filename] = scene
    world.render_all(Path(out_dir) / "images", dict(sorted(used.items())), world_cfg["image_size"], f"sugarcrepe:{seed}")
    for category, samples in data.items():
        io.write_json(Path(out_dir) / f"{category}.json", samples)
    return {"benchmark": ".", "image_dir": "images"}


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
             device: str = "cpu") -> tuple[dict, dict]:
    """Accuracy (%) per category, each group's mean and `avg`, the mean of the seven categories. Images are read
    from `spec["image_dir"]` (default: the benchmark folder's `images/`), as SugarCrepe's script takes COCO's.
    A folder that lacks a category file, or an image a sample names, fails before anything is encoded (`load`)."""
    bench = encode.resolve(root, spec["benchmark"])
    image_dir = encode.resolve(root, spec.get("image_dir")) or bench / "images"
    data = load(bench)
    filenames, image_row = encode.index(sorted(s["filename"] for d in data.values() for s in d.values()))
    encode.require_files([image_dir / f for f in filenames], f"SugarCrepe images in {image_dir} (COCO val2017)")
    captions, caption_row = encode.index(sorted(c for d in data.values() for s in d.values()
                                                for c in (s["caption"], s["negative_caption"])))
    image_features = encode.images(model, preprocess, [image_dir / f for f in filenames], batch_size, device)
    text_features = encode.texts(model, tokenizer, captions, batch_size, device)
    results = {}
    for category, samples in data.items():
        img = image_features[[image_row[s["filename"]] for s in samples.values()]]
        pos = text_features[[caption_row[s["caption"]] for s in samples.values()]]
        neg = text_features[[caption_row[s["negative_caption"]] for s in samples.values()]]
        results[category] = 100 * ((img * pos).sum(-1) > (img * neg).sum(-1)).sum().item() / len(samples)
    for group, members in GROUPS.items():
        results[group] = sum(results[c] for c in members) / len(members)
    results["avg"] = sum(results[c] for c in CATEGORIES) / len(CATEGORIES)
    return results, {"samples": {c: len(s) for c, s in data.items()}}
