"""Datasets of the shapes world, written the way the real data arrives: source images behind `file://` URLs with an
img2dataset URL list (the stand-in for CC3M's TSV), and an in-distribution validation shard."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tqdm import tqdm

from . import io, shapes


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
