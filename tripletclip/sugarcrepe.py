"""SugarCrepe: the benchmark in its own format, built for the shapes world, and its protocol, batched.

Format (RAIVNLab/sugar-crepe): a folder of seven `{category}.json` files, each {id: {"filename", "caption",
"negative_caption"}}, and the images they name. Protocol: with L2-normalized embeddings a sample is correct iff the
positive caption scores strictly higher against the image than the negative. We encode every distinct image and
caption once, in batches, instead of once per sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from . import io, shapes

# The paper's column order: Replace (obj, att, rel), Swap (obj, att), Add (obj, att).
CATEGORIES = ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att")
GROUPS = {"replace": CATEGORIES[:3], "swap": CATEGORIES[3:5], "add": CATEGORIES[5:]}


def build_shapes_benchmark(out_dir: str, samples_per_category: int, seed: int, heldout_combos: int,
                           image_size: int, hollow_rate: float = 0.2) -> None:
    """Write the shapes world's SugarCrepe analogue from test-split scenes only: every scene holds a colour-shape
    combination never seen in training. Categories share images, as SugarCrepe's share COCO images."""
    out = Path(out_dir)
    heldout = shapes.heldout_combos(seed, heldout_combos)
    rng = shapes.keyed_rng("sugarcrepe", seed)
    pool = [(shapes.sample_scene(rng, "test", heldout, hollow_rate), shapes.random_phrasing(rng))
            for _ in range(2 * samples_per_category)]
    data, used = {}, set()
    for category in CATEGORIES:
        order = list(range(len(pool)))
        rng.shuffle(order)
        data[category] = {}
        for idx in order:
            if len(data[category]) == samples_per_category:
                break
            scene, phrasing = pool[idx]
            neg = shapes.negative(scene, category, rng)
            if neg is None:
                continue
            data[category][str(len(data[category]))] = {
                "filename": f"{idx:06d}.jpg", "caption": shapes.describe(scene, phrasing),
                "negative_caption": shapes.describe(neg, phrasing)}
            used.add(idx)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for idx in sorted(used):
        with io.atomic_path(images / f"{idx:06d}.jpg") as tmp:
            shapes.render(pool[idx][0], image_size, seed=f"sugarcrepe:{seed}:{idx}").save(tmp, format="JPEG",
                                                                                         quality=95)
    for category, samples in data.items():  # the JSON files last: their presence marks a finished benchmark
        io.write_json(out / f"{category}.json", samples)


def load(bench_dir: str) -> dict[str, dict]:
    """{category: {id: sample}} for the category files present in `bench_dir`."""
    bench = Path(bench_dir)
    data = {c: json.loads((bench / f"{c}.json").read_text()) for c in CATEGORIES if (bench / f"{c}.json").exists()}
    if not data:
        raise FileNotFoundError(f"no SugarCrepe category file ({', '.join(CATEGORIES)}.json) in {bench_dir}")
    return data


@torch.no_grad()
def evaluate(model, preprocess, tokenizer, bench_dir: str, image_dir: str | None = None, batch_size: int = 256,
             device: str = "cpu") -> dict:
    """Accuracy (percent) per category, each group's mean and `avg`, the mean of the seven categories. Images are
    read from `image_dir` (default `bench_dir/images`), as SugarCrepe's own script takes a COCO image folder."""
    data = load(bench_dir)
    image_dir = Path(image_dir or Path(bench_dir) / "images")
    model.eval().to(device)
    filenames = sorted({s["filename"] for samples in data.values() for s in samples.values()})
    captions = sorted({c for samples in data.values() for s in samples.values()
                       for c in (s["caption"], s["negative_caption"])})
    image_index = {f: i for i, f in enumerate(filenames)}
    caption_index = {c: i for i, c in enumerate(captions)}

    image_features = []
    for i in tqdm(range(0, len(filenames), batch_size), desc="encode images", unit="batch"):
        batch = torch.stack([preprocess(Image.open(image_dir / f).convert("RGB"))
                             for f in filenames[i:i + batch_size]]).to(device)
        image_features.append(model.encode_image(batch, normalize=True).float())
    text_features = []
    for i in tqdm(range(0, len(captions), batch_size), desc="encode captions", unit="batch"):
        text_features.append(model.encode_text(tokenizer(captions[i:i + batch_size]).to(device),
                                               normalize=True).float())
    image_features, text_features = torch.cat(image_features), torch.cat(text_features)

    results = {}
    for category, samples in data.items():
        img = image_features[[image_index[s["filename"]] for s in samples.values()]]
        pos = text_features[[caption_index[s["caption"]] for s in samples.values()]]
        neg = text_features[[caption_index[s["negative_caption"]] for s in samples.values()]]
        correct = (img * pos).sum(-1) > (img * neg).sum(-1)
        results[category] = correct.float().mean().item() * 100
    for group, members in GROUPS.items():
        if all(c in results for c in members):
            results[group] = sum(results[c] for c in members) / len(members)
    results["avg"] = sum(results[c] for c in data) / len(data)
    return results
