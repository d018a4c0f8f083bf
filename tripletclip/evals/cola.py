"""Cola (Ray et al., NeurIPS 2023 Datasets and Benchmarks, "Cola: A Benchmark for Compositional Text-to-image
Retrieval", arXiv 2305.03689): the multi-object setting, pairs of images whose objects' attributes are swapped.

Format (arijitray1993/COLA, `data/COLA_multiobjects_matching_benchmark.json`, commit 8aa4527, 2023-05-18, unchanged
through 1fa52fb, 2024-11-23; its README, "Multi-objects setting", lines 13-23): one JSON list of 210 entries, each a
list `[image 1, caption 1, image 2, caption 2]` of four strings. Caption 1 is true of image 1 and not of image 2, and
vice versa: the two captions name similar objects and attributes in another configuration ("brown giraffe behind
tall white giraffe"). Each image is a link, `https://cs-people.bu.edu/array/data/vg_gqa_images/{id}.jpg`, `{id}` the
Visual Genome image id: 218 distinct images (77 of them in more than one entry; 132 distinct image pairs, some with
several caption pairs), so an entry's id is its position in the list. Nothing here downloads: `image_dir` is a local
folder of those images under their own file names, `{id}.jpg`, the link's last path segment. Visual Genome's download
(VG_100K/ and VG_100K_2/) and GQA's images/ folder both name their images so; an image is looked for in `image_dir`
itself, then in its VG_100K/ and VG_100K_2/ subfolders, so the unzipped Visual Genome folder can be given as it is. A
link that is a local path is read the same way (its file name in `image_dir`).

Protocol (the repository's `scripts/eval.py`, added in 1fa52fb, 2024-11-23, with the README's "COLA Eval" section:
`ColaMultiObjAcc`, lines 7-21; the paper's Fig. 2a: a model must match the correct images to the correct captions):
with s(c, i) the image-caption similarity of caption c_j and image i_k (`c{j}_i{k}` below), a pair is right iff
s(c0, i0) > s(c0, i1) and s(c1, i1) > s(c1, i0): each caption retrieves its own image rather than the other one
(line 19, `im0_c0 > im1_c0 and im1_c1 > im0_c1` over a 2x2 array of rows image 0, 1 and columns caption 0, 1). This
is Winoground's *image* score (text-to-image, Thrush et al. 2022, §3; `protocols.group_2x2`); their script prints its
mean as the "Multi-obj accuracy" (line 75), our `image`. A tie is wrong (strict `>`, as in their code). Winoground's
text score (each image picks its own caption: s(c0, i0) > s(c1, i0) and s(c1, i1) > s(c0, i1)) and group score (both)
are reported beside it, as `text` and `group`; Cola does not report them.

The pairs have no category of their own; every row's category is `multi_object`. The single-object setting (the
`COLA_singleobjects_benchmark_*.json` files, mAP over 320 multi-attribute classes) is not implemented.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pandas as pd

from .. import io, shapes, world
from . import encode, protocols

log = logging.getLogger(__name__)

FILE = "COLA_multiobjects_matching_benchmark.json"
FOLDER_LAYOUTS = (f"data/{FILE}", FILE)  # where a downloaded repository (or a folder) holds it; the first found
CATEGORY = "multi_object"
# Visual Genome's zips unpack into these two folders; GQA's images/ holds the same files flat
IMAGE_SUBFOLDERS = ("", "VG_100K", "VG_100K_2")
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "c0_i0", "c0_i1", "c1_i0", "c1_i1", "text_correct", "image_correct",
           "group_correct", "caption_0", "caption_1", "image_0", "image_1")


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """Pairs of test-split scenes of two objects whose attributes are swapped between them: the second scene is the
    first's `swap_att` negative (the two objects trade their colour, size or hollowness), each pair's captions worded
    alike, so the two captions name the same objects and attributes, bound otherwise, as Cola's pairs do. Each scene
    is its own image (JPEG, as Visual Genome's are, named by a running number as Visual Genome names them by id) and
    its own caption. Scenes with a third object are passed over: Cola's pairs are two objects each.

    Writes `COLA_multiobjects_matching_benchmark.json` (`options["shapes_examples"]` pairs, [image 1, caption 1,
    image 2, caption 2] each, the images as paths `images/{n}.jpg` where Cola has links: both are read by their file
    name) and `images/`; returns the spec {"examples", "image_dir"}."""
    out = Path(out_dir)
    rng = shapes.keyed_rng("cola", seed)
    pairs, scenes = [], {}
    for scene, phrasing in world.test_scenes(world_cfg, seed, "cola"):
        if len(pairs) == options["shapes_examples"]:
            break
        if len(scene.objects) != 2 or not shapes.applicable_types(scene, ("swap_att",)):
            continue
        other = shapes.negative(scene, "swap_att", rng)
        first, second = f"{2 * len(pairs)}.jpg", f"{2 * len(pairs) + 1}.jpg"
        scenes[first], scenes[second] = scene, other
        pairs.append([f"images/{first}", shapes.describe(scene, phrasing), f"images/{second}",
                      shapes.describe(other, phrasing)])
    world.render_all(out / "images", scenes, world_cfg["image_size"], f"cola:{seed}")
    io.write_json(out / FILE, pairs)
    return {"examples": FILE, "image_dir": "images"}


def image_name(link: str) -> str:
    """The file name an image link names: the last segment of a URL's path (`.../vg_gqa_images/2414605.jpg` ->
    `2414605.jpg`), or of a local path."""
    path = urlsplit(link).path if "://" in link else link.replace("\\", "/")
    return PurePosixPath(path).name


def _file(root: str, spec: dict) -> Path:
    files = encode.example_files(root, spec, "Cola", FOLDER_LAYOUTS,
                                 f"{FILE}, or the folder of the downloaded arijitray1993/COLA repository")
    if len(files) > 1:
        raise ValueError(f"Cola examples: {spec['examples']} names {len(files)} files; expected one ({FILE})")
    return files[0]


def load(root: str, spec: dict) -> tuple[list[dict], int, Path]:
    """(pairs, skipped, image_dir): each pair {"index" (its position in the file), "caption_0", "caption_1",
    "image_0", "image_1" (the images' file names), "path_0", "path_1" (where they are)} in the file's order; how many
    entries were not four strings and were skipped (each logged); the image folder.

    Raises FileNotFoundError when the file, the image folder or any image is missing (naming how many and which),
    ValueError when the file is not a JSON list of [image, caption, image, caption] entries, or none is one."""
    path = _file(root, spec)
    entries = encode.read_json(path, f"Cola examples ({FILE})")
    if not isinstance(entries, list):
        raise ValueError(f"Cola examples {path}: expected a JSON list of [image 1, caption 1, image 2, caption 2], "
                         f"found a {type(entries).__name__}")
    image_dir = encode.resolve(root, spec["image_dir"]) if spec.get("image_dir") else path.parent / "images"
    if not image_dir.is_dir():
        raise FileNotFoundError(f"Cola images: expected a folder of the Visual Genome / GQA images ({{id}}.jpg, "
                                f"flat or in VG_100K/ and VG_100K_2/) at {image_dir}, found none; set `image_dir`")
    pairs, bad = [], []
    for index, entry in enumerate(entries):
        if not (isinstance(entry, list) and len(entry) == 4 and all(isinstance(x, str) and x for x in entry)):
            bad.append(index)
            continue
        pair = {"index": index, "caption_0": entry[1], "caption_1": entry[3], "image_0": image_name(entry[0]),
                "image_1": image_name(entry[2])}
        pairs.append(pair)
    if bad:
        log.warning("Cola: %d of %d entries are not [image, caption, image, caption] (four strings) and are skipped, "
                    "e.g. entry %d: %r", len(bad), len(entries), bad[0], entries[bad[0]])
    if not pairs:
        raise ValueError(f"Cola examples {path}: expected a non-empty list of [image 1, caption 1, image 2, caption "
                         f"2] (four strings); found {len(entries)} entries, none of them one"
                         + (f", e.g. {entries[bad[0]]!r}" if bad else ""))
    where = {}
    for name in dict.fromkeys(p[f"image_{k}"] for p in pairs for k in (0, 1)):
        where[name] = next((image_dir / sub / name for sub in IMAGE_SUBFOLDERS if (image_dir / sub / name).is_file()),
                           image_dir / name)
    encode.require_files(list(where.values()), f"Cola images in {image_dir} (Visual Genome ids, {{id}}.jpg)")
    for pair in pairs:
        pair["path_0"], pair["path_1"] = where[pair["image_0"]], where[pair["image_1"]]
    log.info("Cola: %d pairs from %s, images from %s", len(pairs), path, image_dir)
    return pairs, len(bad), image_dir


def image_bytes(spec: dict, root: str = ".", names=None) -> dict[str, bytes]:
    """{name: the image file's bytes} of the images `names` (the per-sample table's image_0/image_1 values; None:
    every image), found as `load` finds them (flat or in `IMAGE_SUBFOLDERS`). For the error browser
    (`browse.EmbeddedImages`); raises as `load` does."""
    pairs, _, _ = load(root, spec)
    where = {p[f"image_{k}"]: p[f"path_{k}"] for p in pairs for k in (0, 1)}
    return {name: Path(path).read_bytes() for name, path in where.items() if names is None or name in names}


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): Cola's multi-object accuracy (`image`) and Winoground's `text` and `group`
    scores beside it, in % (`metrics_from_samples` of the table); details {"pairs": scored, "skipped": entries
    that were not pairs}; the table, one row per pair in the file's order, columns `COLUMNS`. Each distinct image
    and caption is encoded once."""
    pairs, skipped, _ = load(root, spec)
    scores = protocols.encode_2x2(model, preprocess, tokenizer, pairs, batch_size, device)
    table = pd.DataFrame({
        "category": CATEGORY, "sample_id": [str(p["index"]) for p in pairs], "correct": scores["image_correct"],
        **scores, **{f"caption_{k}": [p[f"caption_{k}"] for p in pairs] for k in (0, 1)},
        **{f"image_{k}": [p[f"image_{k}"] for p in pairs] for k in (0, 1)}}, columns=COLUMNS)
    return metrics_from_samples(table), {"pairs": len(pairs), "skipped": skipped}, table


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{"image", "text", "group"}: the share (%) of pairs whose image / text / group score is right, over every row.
    `image` is Cola's multi-object accuracy (the module's docstring); `text` and `group` are Winoground's.

    Columns, one row per pair: category ("multi_object"), sample_id (the entry's position in the JSON list, from 0),
    correct (bool: image_correct, Cola's verdict), c0_i0, c0_i1, c1_i0, c1_i1 (s(caption_j, image_k), the cosine
    similarity of caption j and image k; caption 0 and image 0 are the entry's first pair), text_correct
    (s(c0, i0) > s(c1, i0) and s(c1, i1) > s(c0, i1)), image_correct (s(c0, i0) > s(c0, i1) and s(c1, i1) >
    s(c1, i0)), group_correct (both), all strict: a tie is wrong; caption_0, caption_1, image_0, image_1 (the
    images' file names, {id}.jpg)."""
    # float32 means, as every benchmark's metrics are computed (encode.mean32)
    return {k: encode.mean32(samples[f"{k}_correct"]) * 100 for k in ("image", "text", "group")}


def score_blind(items: pd.DataFrame, scorer, model: str) -> pd.DataFrame:
    """A per-sample table (`COLUMNS`) scored by a text-only `scorer` (tripletclip.blind): `protocols.blind_2x2`,
    wrong on every pair (its image score, Cola's accuracy, ties each caption with itself). `model` is unused: no tie
    is settled by a coin here, Cola counts a tie wrong."""
    return protocols.blind_2x2(items, scorer, lambda scores: {
        "correct": scores.image, "text_correct": scores.text, "image_correct": scores.image,
        "group_correct": scores.group})
