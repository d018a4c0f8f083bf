"""Datasets of the shapes world, written the way the real data arrives: source images behind `file://` URLs with an
img2dataset URL list (the stand-in for CC3M's TSV), COCO's folders with Karpathy's split file (the stand-in for
COCO, to fine-tune on), and an in-distribution validation shard.

    python -m tripletclip.world karpathy OUT_DIR --images 2000 --image-size 64 --seed 0 --captions-per-image 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from . import io, logs, shapes


def _train_scenes(count: int, seed: int, stream: str, heldout_count: int, hollow_rate: float,
                  third_object_rate: float, colour_bias: float):
    heldout = shapes.heldout_combos(seed, heldout_count)
    typical = shapes.typical_colours(seed, heldout)
    rng = shapes.keyed_rng("scenes", stream, seed)
    for _ in range(count):
        yield (shapes.sample_scene(rng, "train", heldout, hollow_rate, third_object_rate, typical, colour_bias),
               shapes.random_phrasing(rng))


def write_source(
    images_dir: str, url_list: str, num_samples: int, image_size: int, seed: int, heldout_combos: int,
    hollow_rate: float, third_object_rate: float = 0.0, colour_bias: float = 0.0,
) -> None:
    """Render `num_samples` training scenes as PNG files and list them as (url, caption) rows of a TSV."""
    images_dir = Path(images_dir)
    staging = images_dir.with_name(images_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rows = []
    scenes = _train_scenes(num_samples, seed, "source", heldout_combos, hollow_rate, third_object_rate, colour_bias)
    for i, (scene, phrasing) in enumerate(tqdm(scenes, total=num_samples, desc="render source", unit="img")):
        name = f"{i:08d}.png"
        shapes.render(scene, image_size, seed=f"source:{seed}:{i}").save(staging / name)
        rows.append(((images_dir / name).resolve().as_uri(), shapes.describe(scene, phrasing)))
    shutil.rmtree(images_dir, ignore_errors=True)
    os.replace(staging, images_dir)
    # a TSV has no quoting (tables.read): a row is its fields joined by tabs, as CC3M's are
    with io.atomic_path(url_list) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(f"{url}\t{caption}\n" for url, caption in [("url", "caption"), *rows])


def write_valset(path: str, num_samples: int, image_size: int, seed: int, heldout_combos: int, hollow_rate: float,
                 third_object_rate: float = 0.0, colour_bias: float = 0.0):
    """A shard of fresh training-distribution pairs (jpg, txt) for in-distribution retrieval during training."""
    scenes = _train_scenes(num_samples, seed, "val", heldout_combos, hollow_rate, third_object_rate, colour_bias)
    with io.shard_writer(path) as sink:
        for i, (scene, phrasing) in enumerate(scenes):
            image = shapes.render(scene, image_size, seed=f"val:{seed}:{i}")
            sink.write({"__key__": f"val{i:06d}", "jpg": io.encode_jpeg(image), "txt": shapes.describe(scene, phrasing)})


def test_scenes(world: dict, seed: int, stream: str):
    """Endless (scene, phrasing) pairs of the test split (each holds a held-out colour-shape combination), one
    reproducible stream per benchmark, for the benchmarks' shapes analogues."""
    heldout = shapes.heldout_combos(seed, world["heldout_combos"])
    rng = shapes.keyed_rng("test", stream, seed)
    while True:
        yield (shapes.sample_scene(rng, "test", heldout, world["hollow_rate"], world.get("third_object_rate", 0.0)),
               shapes.random_phrasing(rng))


def render_all(out_dir: str | os.PathLike, scenes: dict, image_size: int, seed_prefix: str,
               image_format: str = "JPEG") -> None:
    """Render {filename: scene} into `out_dir` as JPEG (or `image_format`) files, each written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, scene in tqdm(scenes.items(), desc=f"render {out.name}", unit="img", mininterval=5):
        with io.atomic_path(out / name) as tmp:
            image = shapes.render(scene, image_size, seed=f"{seed_prefix}:{name}")
            image.save(tmp, format=image_format, **({"quality": 95} if image_format == "JPEG" else {}))


def write_karpathy(
    out_dir: str | os.PathLike, num_images: int, image_size: int, seed: int, heldout_combos: int, hollow_rate: float,
    third_object_rate: float = 0.0, colour_bias: float = 0.0, captions_per_image: int = 2, val_images: int = 0,
    test_images: int = 0, restval_images: int = 0,
) -> None:
    """The shapes world in COCO's layout with Karpathy's split file (see tripletclip.sources): out_dir/train2014/
    COCO_train2014_{cocoid:012d}.jpg for the `num_images` images of split train, out_dir/val2014/
    COCO_val2014_{cocoid:012d}.jpg for restval, val and test (COCO's val2014 images, as Karpathy splits them), and
    out_dir/dataset_coco.json. Each image has `captions_per_image` distinct phrasings of its training-distribution
    scene. The scenes are a stream of their own per split, none of write_source's: pairs the model has not seen. The
    images are rendered beside out_dir and moved into place, the JSON written last: a JSON on disk means its images
    are there."""
    distinct = len(shapes.FRAMES) * min(map(len, shapes.RELATION_PHRASES.values()))
    if not 1 <= captions_per_image <= distinct:
        raise ValueError(f"captions_per_image must be 1 to {distinct} (the phrasings of a scene), got "
                         f"{captions_per_image}")
    out = Path(out_dir)
    staging = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    images, sentid = [], 0
    splits = [("train", "train2014", num_images), ("restval", "val2014", restval_images),
              ("val", "val2014", val_images), ("test", "val2014", test_images)]
    for split, folder, count in splits:
        (staging / folder).mkdir(parents=True, exist_ok=True)
        # the train stream is "karpathy" itself: the training images stay the same whatever the other counts
        stream = "karpathy" if split == "train" else f"karpathy-{split}"
        scenes = _train_scenes(count, seed, stream, heldout_combos, hollow_rate, third_object_rate, colour_bias)
        for scene, phrasing in tqdm(scenes, total=count, desc=f"render karpathy {split}", unit="img"):
            cocoid = len(images) + 1
            name = f"COCO_{folder}_{cocoid:012d}.jpg"
            shapes.render(scene, image_size, seed=f"karpathy:{seed}:{cocoid}").save(
                staging / folder / name, format="JPEG", quality=95)
            captions = [shapes.describe(scene, phrasing)]
            # the other phrasings from a generator of the image's own: the scenes do not depend on the count
            rng = shapes.keyed_rng("karpathy-phrasing", seed, cocoid)
            while len(captions) < captions_per_image:
                caption = shapes.describe(scene, shapes.random_phrasing(rng))
                if caption not in captions:
                    captions.append(caption)
            sentences = [{"tokens": re.findall(r"[a-z0-9]+", c.lower()), "raw": c, "imgid": len(images),
                          "sentid": sentid + j} for j, c in enumerate(captions)]
            images.append({"filepath": folder, "sentids": [t["sentid"] for t in sentences], "filename": name,
                           "imgid": len(images), "split": split, "sentences": sentences, "cocoid": cocoid})
            sentid += len(sentences)
    annotations = out / "dataset_coco.json"
    out.mkdir(parents=True, exist_ok=True)
    annotations.unlink(missing_ok=True)  # an old JSON must not describe the new images while they move in
    for folder in ("train2014", "val2014"):
        shutil.rmtree(out / folder, ignore_errors=True)
        os.replace(staging / folder, out / folder)
    shutil.rmtree(staging, ignore_errors=True)
    # compact, as Karpathy's own file is
    with io.atomic_path(annotations) as tmp:
        tmp.write_text(json.dumps({"images": images, "dataset": "coco"}), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tripletclip.world", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)
    k = commands.add_parser("karpathy", help="the shapes world as COCO's folders and Karpathy's dataset_coco.json")
    k.add_argument("out_dir", help="gets dataset_coco.json, train2014/ and val2014/")
    k.add_argument("--images", type=int, required=True, help="images of split train")
    k.add_argument("--image-size", type=int, default=64)
    k.add_argument("--seed", type=int, default=0, help="the world's seed (the config's seed)")
    k.add_argument("--heldout-combos", type=int, default=6, help="colour-shape combinations never shown")
    k.add_argument("--hollow-rate", type=float, default=0.2)
    k.add_argument("--third-object-rate", type=float, default=0.3)
    k.add_argument("--colour-bias", type=float, default=0.0)
    k.add_argument("--captions-per-image", type=int, default=2)
    k.add_argument("--restval-images", type=int, default=0, help="images of split restval (in val2014/)")
    k.add_argument("--val-images", type=int, default=0, help="images of split val (in val2014/)")
    k.add_argument("--test-images", type=int, default=0, help="images of split test (in val2014/)")
    args = p.parse_args(argv)
    logs.setup()
    try:
        write_karpathy(args.out_dir, args.images, args.image_size, args.seed, args.heldout_combos, args.hollow_rate,
                       args.third_object_rate, args.colour_bias, args.captions_per_image, args.val_images,
                       args.test_images, args.restval_images)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
