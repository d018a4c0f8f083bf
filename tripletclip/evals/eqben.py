"""EqBen (Wang, Lin, Li, Lin, Yang, Zhang, Liu and Wang, "Equivariant Similarity for Vision-Language Foundation
Models", ICCV 2023, arXiv 2303.14465): pairs of images with a "visual-minimal change" between them (two frames of one
video, two renders of one Kubric or Stable Diffusion scene) and their two captions, scored with Winoground's text,
image and group scores, per sub-dataset.

Source: the authors' repository Wangt-CN/EqBen at ab6c79a (ab6c79a3c34656f6a882b4e49439febd6fe313f8, 2023-12-11):
`README.md`, `src/eqben/eqben_utils.py` (the readers), `src/eqben/eqben_acc.py` (the scores),
`example/eqben_eval_CLIP.py` (their CLIP example) and `evaluate_eqben_locally.py` (the CodaLab server's scoring).

Sub-datasets (`evaluate_eqben_locally.py` lines 6-14, `SUBSET_LENGTH_INFO`, the number of 2x2 samples in each of
the full test set): eqbenag 195,872 (Action Genome frames), eqbenyoucook2 45,849 (YouCook2 frames), eqbengebc 1,814
(GEBC frames), eqbenkubric_loc, eqbenkubric_attr, eqbenkubric_cnt 2,000 each (Kubric renders) and eqbensd 1,513
(Stable Diffusion images): 251,048 samples (`SUBSETS`, `SIZES`); the repository's example submission
`src_file/prediction.npy` holds 1,004,192 = 4 x 251,048 float32 scores, one per image-caption pair. The images of
the full set (README line 175, one tar.gz of ~100 GB) unpack into one folder per sub-dataset named so, an
annotation's image path starting with it: the repository tells YouCook2's images so (`EqBenALL`, eqben_utils.py
lines 17-20, `self.global_ann[index]['image'].split('/')[0] == 'eqbenyoucook2'`); third-party readers of the
authors' MLLM subset (`eqben_vllm/all_select.json`, README line 58) tell all seven so (the three Kubric ones by
eqbenkubric_loc/, _attr/, _cnt/); the full tar's listing could not be read here.

Layouts read (`data`: an annotation file, or a folder whose every *.json is one; `image_dir`: the folder the
annotation's image paths are relative to, the authors' `img_root`, joined as `os.path.join(img_root, path)`,
eqben_utils.py lines 18, 50, 83, 116, 149, 182; an absolute path is read as it is):

- Winoground style: a JSON list of {"image0", "caption0", "image1", "caption1"}, caption j true of image j. The
  `EqBenKubric` and `EqBenSD` annotation files (eqben_utils.py lines 147-152, 180-185); the 10% sub-test set
  `eqben_subset_10percent_final.json` (README line 180: "the format follows the winoground style", "randomly sorted
  and not classified to each category"; its field names are not in the repository: third-party readers of that file
  read image0, caption0, image1, caption1); the whole original annotation the README calls "formalized similar to
  Winoground" (line 176; its fields are not in the repository either). Winoground's own spelling, image_0 /
  caption_0 / image_1 / caption_1 (the repository's `Winoground` and `VALSE` readers, lines 216-217, 249-250), is
  read too. An entry's "id", when it has one, is its sample id; its position in the list otherwise.
- Per video (`EqBenYoucook2`, `EqBenGEBC`, lines 80-86, 113-119): a JSON object {video: [entries as above]}; an
  entry's sample id is "{video}/{its position in the video's list}".
- Per video and subject (`EqBenAG`, lines 46-53): {video: {subject: [entries]}}, each caption a list of captions, of
  which the authors use the first ("only use the first caption in the caption list", line 51): so do we (a caption
  given as a list anywhere is read so); sample id "{video}/{subject}/{position}".
- Randomized (`EqBenALL`, lines 8-27; README line 175, `ann_json_finegrained_random.json`): a JSON list of
  {"image", "caption"}, the four image-caption pairs of every sample shuffled. The CodaLab server (README lines
  190-191: `evaluate_eqben_locally.py` "is actually what we do on CodaLab server") regroups them with the
  repository's `src_file/private_random_idx.json` and `src_file/private_info.json` (lines 17-18, 26-27, 35-45):
  with p the index list and info the info list, entry j of the randomized file is entry p[j] of the original order,
  whose info {"dataset", "name": one of c0i0, c0i1, c1i0, c1i1, "sample_cnt"} says its sub-dataset, which caption
  and image of the 2x2 it is (c{j}i{k}: caption j with image k), and its sample's index. The spec's
  `private_info` and `private_random_idx` name those two files; a randomized file without them is an error (its
  pairs cannot be grouped). Sample id: the sample_cnt. Those two files are in the repository but their blobs could
  not be read here (the mirror lacks them): their structure is the one the server script's lines read.

Category (the sub-dataset): the spec's `subset` when it names one (for one file whose paths do not start with the
sub-dataset's folder); else the entry's "dataset" (private_info's field); else the image path's first folder when it
is one of `SUBSETS` (as `EqBenALL` tells youcook2 apart, line 17); else, in a folder of files, a file's stem when it
is one of them; else "eqben" (`UNCATEGORIZED`).

Images (`open_image`): a `.npy` file is an array in BGR order, read as `Image.fromarray(np.load(path)[:, :, [2, 1,
0]])` (the authors' `process_img_npy`, eqben_eval_CLIP.py line 52; used for every eqbenyoucook2 image, eqben_utils.py
lines 20-21, 91): here it is told by its suffix and must hold uint8 (H, W, 3); any other file is opened with PIL
and converted to RGB (line 47). The frames' file names are the annotation's, read as written: the repository says
nothing more of them. The light full set (README line 177: every png converted to jpg, "you may make some small
revisement to the path in the annotation (change the `.png` to `.jpg`)"): a path ending .png whose file is missing
is read as the .jpg beside it when that exists, and the table gives the path read.

Protocol (eqben_eval_CLIP.py lines 89-116: L2-normalized features, similarity their dot product, the cosine; lines
142-158: `eqben_acc.cal_wino_score`; eqben_acc.py lines 5-20 and the server's copy, evaluate_eqben_locally.py lines
55-70): text right iff s(c0, i0) > s(c1, i0) and s(c1, i1) > s(c0, i1) (lines 6-7), image right iff s(c0, i0) >
s(c0, i1) and s(c1, i1) > s(c1, i0) (lines 9-10), group iff both (lines 12-13): `protocols.group_2x2`, every
comparison strict, a tie wrong. A score is the count right over the samples (lines 15-18), per sub-dataset (the
server's lines 73-79); as a percentage here. The authors print per sub-dataset only; `text`, `image`, `group` over
every sample read and `avg_text`, `avg_image`, `avg_group`, the means over the sub-datasets read, are ours.

vl_compo (Oh et al., CVPRW 2024, arXiv 2406.09388; ytaek-oh/vl_compo@43c479b, individual_results.csv columns 14-34,
`eqben::{subset}::text|image|group`) scores the seven sub-datasets of the full set: on 201 of its 202 rows every
value is k/N with N the full sub-dataset size above. On the ViT-B-32 openai row (line 75) the eqbenyoucook2 and
eqbenag triples (49.12 / 52.68 / 37.34 and 14.7 / 8.7 / 3.04) fit no full size: each is k/N only for N a multiple
of 5,000 (37.34 = 1,867/5,000; 3.04 = 152/5,000 with 14.7 = 735/5,000), so those two were scored on 5,000 samples
each, as with a cap of 5,000 per sub-dataset (which leaves the five smaller ones whole); which 5,000 cannot be told
(vl_compo's repository holds its results, not its code). Its other five triples on that row are full-set.
"""

from __future__ import annotations

import io as bytes_io
import logging
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image

from .. import io, shapes, world
from . import encode, protocols

log = logging.getLogger(__name__)

# evaluate_eqben_locally.py lines 6-14: each sub-dataset's number of samples in the full test set, in its order
SIZES = {"eqbenag": 195872, "eqbenyoucook2": 45849, "eqbengebc": 1814, "eqbenkubric_loc": 2000,
         "eqbenkubric_attr": 2000, "eqbenkubric_cnt": 2000, "eqbensd": 1513}
SUBSETS = tuple(SIZES)
UNCATEGORIZED = "eqben"  # the category of a sample whose sub-dataset nothing tells (see the docstring)
PAIR_KEYS = (("image0", "caption0", "image1", "caption1"),  # the EqBen readers' spelling (eqben_utils.py)
             ("image_0", "caption_0", "image_1", "caption_1"))  # Winoground's (eqben_utils.py lines 216-217)
NAMES = ("c0i0", "c0i1", "c1i0", "c1i1")  # private_info's "name": caption j with image k
SCORES = ("text", "image", "group")
LAYOUT = ("an EqBen annotation file (or a folder of them): a JSON list of {image0, caption0, image1, caption1} "
          "(Kubric, SD, the 10% subset), {video: [those]} (YouCook2, GEBC), {video: {subject: [those]}} (AG), or the "
          "randomized list of {image, caption} with `private_info` and `private_random_idx`; `image_dir` the folder "
          "its image paths start from")
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "c0_i0", "c0_i1", "c1_i0", "c1_i1", "text_correct", "image_correct",
           "group_correct", "caption_0", "caption_1", "image_0", "image_1")


# The analogue's sub-datasets: Kubric's location and attribute changes, which the shapes world can draw
SHAPES_SUBSETS = ("eqbenkubric_loc", "eqbenkubric_attr")
SHAPES_FILE = "eqben_shapes.json"
OPPOSITE = {"left": "right", "right": "left", "above": "below", "below": "above"}


def _minimal_change(scene: shapes.Scene, subset: str, rng) -> shapes.Scene:
    """The scene with one visual-minimal change: the pair's relation reversed (`eqbenkubric_loc`: the objects trade
    places), or the first object's colour replaced by one neither object has (`eqbenkubric_attr`)."""
    if subset == "eqbenkubric_loc":
        return shapes.Scene(scene.objects, OPPOSITE[scene.relation])
    a, b = scene.objects
    colour = rng.choice([c for c in shapes.COLOURS if c not in (a.colour, b.colour)])
    return shapes.Scene((shapes.Obj(a.size, colour, a.shape, a.hollow), b), scene.relation)


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """EqBen's Kubric design in the shapes world: per sub-dataset of `SHAPES_SUBSETS`, `options["shapes_examples"]`
    2x2 samples, each a test-split scene's first two objects (stream "eqben:{subset}") beside the same scene with one
    visual-minimal change (`_minimal_change`), both drawn with one layout seed, and the two scenes' captions in the
    same phrasing: they differ in the changed word(s) alone.

    Written in the Winoground-style layout the authors' Kubric files have (a JSON list of {image0, caption0, image1,
    caption1}; `SHAPES_FILE`), the images in `{subset}/{i}_{k}.png`, so that the path's first folder tells the
    sub-dataset, as the full set's. A text-only scorer gives a caption the same score against both images: wrong on
    every sample (`score_blind`). Returns the spec {"data": SHAPES_FILE, "image_dir": "."}."""
    n = options["shapes_examples"]
    out = Path(out_dir)
    entries = []
    for subset in SHAPES_SUBSETS:
        for i, (scene, phrasing) in enumerate(world.test_scenes(world_cfg, seed, f"eqben:{subset}")):
            if i == n:
                break
            pair = (shapes.Scene(scene.objects[:2], scene.relation),)
            pair += (_minimal_change(pair[0], subset, shapes.keyed_rng("eqben", subset, seed, i)),)
            for k, drawn in enumerate(pair):
                with io.atomic_path(out / subset / f"{i}_{k}.png") as tmp:
                    shapes.render(drawn, world_cfg["image_size"], seed=f"eqben:{seed}:{subset}:{i}").save(
                        tmp, format="PNG")
            entries.append({f"{field}{k}": value for k, drawn in enumerate(pair) for field, value in (
                ("image", f"{subset}/{i}_{k}.png"), ("caption", shapes.describe(drawn, phrasing)))})
    io.write_json(out / SHAPES_FILE, entries)
    return {"data": SHAPES_FILE, "image_dir": "."}


def open_image(path: str | Path) -> Image.Image:
    """An EqBen image as the authors load it, RGB: a `.npy` file is a uint8 (H, W, 3) array in BGR order
    (`process_img_npy`, eqben_eval_CLIP.py line 52, their YouCook2 frames), any other file is opened with PIL.
    ValueError when a .npy file holds another array."""
    if Path(path).suffix.lower() != ".npy":
        return encode.open_rgb(path)
    array = np.load(path, allow_pickle=False)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"EqBen frame {path}: expected a uint8 (H, W, 3) BGR array, as the authors' "
                         f"process_img_npy reads, found {array.dtype} {array.shape}")
    return Image.fromarray(array[:, :, [2, 1, 0]])  # the fancy index copies: a contiguous RGB array


def _caption(value, what: str) -> str:
    # EqBenAG's captions are lists, of which the authors take the first (eqben_utils.py line 51)
    if isinstance(value, list) and value:
        value = value[0]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what}: expected a caption (a non-empty string, or AG's list of them), found {value!r}")
    return value


def _pair(entry, what: str) -> dict:
    """{"caption_0", "caption_1", "image_0", "image_1"} of one Winoground-style entry (either spelling)."""
    keys = next((k for k in PAIR_KEYS if isinstance(entry, dict) and all(f in entry for f in k)), None)
    if keys is None:
        found = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise ValueError(f"{what} has {found}; expected the keys {list(PAIR_KEYS[0])} (or Winoground's "
                         f"{list(PAIR_KEYS[1])})")
    image_0, caption_0, image_1, caption_1 = (entry[k] for k in keys)
    for key, image in ((keys[0], image_0), (keys[2], image_1)):
        if not isinstance(image, str) or not image:
            raise ValueError(f"{what}: {key} is {image!r}; expected an image path")
    return {"caption_0": _caption(caption_0, f"{what}, {keys[1]}"),
            "caption_1": _caption(caption_1, f"{what}, {keys[3]}"), "image_0": image_0, "image_1": image_1}


def _is_randomized(doc) -> bool:
    return (isinstance(doc, list) and bool(doc) and isinstance(doc[0], dict) and {"image", "caption"} <= set(doc[0])
            and not any(all(k in doc[0] for k in keys) for keys in PAIR_KEYS))


def _entries(doc, what: str) -> list[tuple[str, dict]]:
    """[(sample id, entry)] of an annotation in one of the nested or Winoground-style layouts, in its order."""
    if isinstance(doc, list):
        return [(str(e["id"]) if isinstance(e, dict) and e.get("id") is not None else str(i), e)
                for i, e in enumerate(doc)]
    if isinstance(doc, dict) and doc and all(isinstance(v, list) for v in doc.values()):  # YouCook2, GEBC
        return [(f"{video}/{k}", e) for video, entries in doc.items() for k, e in enumerate(entries)]
    if isinstance(doc, dict) and doc and all(isinstance(v, dict) and all(isinstance(x, list) for x in v.values())
                                             for v in doc.values()):  # AG
        return [(f"{video}/{subject}/{k}", e) for video, subjects in doc.items()
                for subject, entries in subjects.items() for k, e in enumerate(entries)]
    kind = type(doc).__name__ if not isinstance(doc, dict) else "an object of another shape"
    raise ValueError(f"{what}: expected {LAYOUT}; found {kind}")


def _regroup(doc: list, root: str | Path, spec: dict, what: str) -> list[tuple[str, dict]]:
    """The samples of the randomized annotation regrouped as the server does (evaluate_eqben_locally.py lines
    17-45): [(sample_cnt as a string, {"caption_0", "caption_1", "image_0", "image_1", "dataset"})], by
    sample_cnt."""
    if not spec.get("private_info") or not spec.get("private_random_idx"):
        raise ValueError(f"{what}: this is the randomized annotation (a list of {{image, caption}}, "
                         f"ann_json_finegrained_random.json), whose pairs cannot be grouped into samples without the "
                         f"authors' src_file/private_info.json and src_file/private_random_idx.json: name them as "
                         f"`private_info` and `private_random_idx`, or read a Winoground-style annotation")
    info = encode.read_json(encode.resolve(root, spec["private_info"]), "EqBen private_info")
    order = encode.read_json(encode.resolve(root, spec["private_random_idx"]), "EqBen private_random_idx")
    encode.require_fields(info, ("dataset", "name", "sample_cnt"), "EqBen private_info")
    encode.require_fields(doc, ("image", "caption"), what)
    n = len(doc)
    if (not (len(info) == len(order) == n) or not all(type(i) is int for i in order)
            or sorted(order) != list(range(n))):
        raise ValueError(f"{what}: {n} entries, private_info {len(info)}, private_random_idx {len(order)} (expected "
                         f"a permutation of 0..{n - 1}); the three files must be of one release")
    samples: dict[int, dict] = {}
    for j, entry in enumerate(doc):
        record = info[order[j]]  # entry j of the randomized file is entry order[j] of the original order
        if record["name"] not in NAMES:
            raise ValueError(f"EqBen private_info entry {order[j]}: name {record['name']!r} is none of {NAMES}")
        c, k = record["name"][1], record["name"][3]
        sample = samples.setdefault(int(record["sample_cnt"]), {"dataset": str(record["dataset"]), "names": set()})
        if record["name"] in sample["names"]:
            raise ValueError(f"{what}: sample {record['sample_cnt']} has two {record['name']} entries")
        sample["names"].add(record["name"])
        for key, value in ((f"caption_{c}", _caption(entry["caption"], f"{what}, entry {j}")),
                           (f"image_{k}", entry["image"])):
            if sample.setdefault(key, value) != value:
                raise ValueError(f"{what}: sample {record['sample_cnt']}'s {key} is {sample[key]!r} in one entry and "
                                 f"{value!r} in another")
    incomplete = [s for s, sample in samples.items() if len(sample["names"]) != 4]
    if incomplete:
        raise ValueError(f"{what}: sample {incomplete[0]} lacks some of {NAMES}")
    return [(str(s), {key: v for key, v in samples[s].items() if key != "names"}) for s in sorted(samples)]


def _locate(image_dir: Path, written: str) -> tuple[str, Path]:
    """(the path as the table gives it, relative to image_dir, where it is read). The light set's jpg stands in for
    a missing png (README line 177)."""
    path = PurePosixPath(written.replace("\\", "/"))
    full = Path(path) if path.is_absolute() else image_dir / path
    if path.suffix == ".png" and not full.is_file() and full.with_suffix(".jpg").is_file():
        return str(path.with_suffix(".jpg")), full.with_suffix(".jpg")
    return str(path), full


def image_bytes(spec: dict, root: str = ".", names=None) -> dict[str, bytes]:
    """{name: the encoded image} of `names` (the per-sample table's image_0 / image_1 values, paths inside
    `image_dir`; None: every image the spec's samples name), for the error browser (`browse.EmbeddedImages`): a
    file's own bytes, a YouCook2 `.npy` frame as the PNG of `open_image`'s RGB picture (a browser cannot show an
    array). ValueError when the spec names no `image_dir`."""
    if not spec.get("image_dir"):
        raise ValueError(f"EqBen: the spec names no `image_dir` (expected {LAYOUT})")
    if names is None:
        names = {s[f"image_{k}"] for s in load(root, spec)[0] for k in (0, 1)}
    image_dir, out = encode.resolve(root, spec["image_dir"]), {}
    for name in names:
        path = Path(name) if PurePosixPath(name).is_absolute() else image_dir / name
        if not path.is_file():
            continue  # the browser says "not found"
        if path.suffix.lower() == ".npy":
            buffer = bytes_io.BytesIO()
            open_image(path).save(buffer, format="PNG")
            out[name] = buffer.getvalue()
        else:
            out[name] = path.read_bytes()
    return out


def _category(spec_subset, entry: dict, image_0: str, stem: str | None) -> str:
    if spec_subset:
        return spec_subset
    if isinstance(entry.get("dataset"), str) and entry["dataset"]:
        return entry["dataset"]
    head = PurePosixPath(image_0.replace("\\", "/")).parts[0] if image_0 else ""
    if head in SUBSETS:
        return head
    return stem if stem in SUBSETS else UNCATEGORIZED


def load(root: str, spec: dict) -> tuple[list[dict], Path, list[Path]]:
    """(samples, image folder, annotation files): each sample {"category", "sample_id", "caption_0", "caption_1",
    "image_0", "image_1" (paths as the table gives them, relative to the image folder), "path_0", "path_1" (where
    they are read)}, file by file (sorted in a folder), each in its order.

    Raises ValueError when the spec names no `data` or no `image_dir`, or a `subset` outside `SUBSETS`, when a file
    is in none of the layouts (`LAYOUT`) or an entry lacks a field, when there is no sample or a sample id repeats
    within a category; FileNotFoundError when the annotation, the image folder or any image is missing."""
    for key in ("data", "image_dir"):
        if not spec.get(key):
            raise ValueError(f"EqBen: the spec names no `{key}` (expected {LAYOUT})")
    subset = spec.get("subset")
    if subset and subset not in SUBSETS:
        raise ValueError(f"EqBen: subset {subset!r} is none of {', '.join(SUBSETS)}")
    data, image_dir = encode.resolve(root, spec["data"]), encode.resolve(root, spec["image_dir"])
    if data.is_dir():
        files = sorted(p for p in data.glob("*.json") if p.is_file())
        if not files:
            found = sorted(p.name for p in data.iterdir())[:10]
            raise FileNotFoundError(f"EqBen data: {data} holds no .json annotation; expected {LAYOUT}; found "
                                    f"{found or 'nothing'}")
    elif data.is_file():
        files = [data]
    else:
        raise FileNotFoundError(f"EqBen data: expected {LAYOUT} at {data}, found nothing")
    if not image_dir.is_dir():
        raise FileNotFoundError(f"EqBen images: `image_dir` {image_dir} is not a folder (expected the folder the "
                                f"annotation's image paths start from, e.g. the one holding eqbenag/, eqbensd/, ...)")
    samples = []
    for path in files:
        what = f"EqBen annotation {path}"
        doc = encode.read_json(path, what)
        entries = (_regroup(doc, root, spec, what) if _is_randomized(doc) else _entries(doc, what))
        prefix = f"{path.stem}/" if len(files) > 1 else ""
        stem = path.stem if len(files) > 1 else None
        for sample_id, entry in entries:
            pair = _pair(entry, f"{what}, sample {sample_id}")
            located = [_locate(image_dir, pair[f"image_{k}"]) for k in (0, 1)]
            samples.append({"category": _category(subset, entry, pair["image_0"], stem),
                            "sample_id": prefix + sample_id, "caption_0": pair["caption_0"],
                            "caption_1": pair["caption_1"], "image_0": located[0][0], "image_1": located[1][0],
                            "path_0": located[0][1], "path_1": located[1][1]})
    if not samples:
        raise ValueError(f"EqBen annotation {data}: no sample")
    keys = pd.Series([(s["category"], s["sample_id"]) for s in samples])
    if keys.duplicated().any():
        category, sample_id = keys[keys.duplicated()].iloc[0]
        raise ValueError(f"EqBen annotation {data}: sample ids are not unique within a category, e.g. {sample_id!r} "
                         f"is given twice in {category}")
    encode.require_files(list(dict.fromkeys(s[f"path_{k}"] for s in samples for k in (0, 1))),
                         f"EqBen images in {image_dir}")
    log.info("EqBen: %d samples from %d file(s) in %s", len(samples), len(files), data)
    return samples, image_dir, files


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): the text, image and group scores (%) over every sample, their means over the
    sub-datasets and per sub-dataset (`metrics_from_samples` of the table); details {"examples", "files",
    "per_subset": {subset: {"examples", "full_size" (the authors' count, None for "eqben"), "text", "image",
    "group"}}}; the table, one row per sample in the files' order, columns `COLUMNS`. Each distinct image and
    caption is encoded once."""
    samples, _, files = load(root, spec)
    scores = protocols.encode_2x2(model, preprocess, tokenizer, samples, batch_size, device, load=open_image)
    table = pd.DataFrame({
        "category": [s["category"] for s in samples], "sample_id": [s["sample_id"] for s in samples],
        "correct": scores["group_correct"], **scores,
        **{f"caption_{k}": [s[f"caption_{k}"] for s in samples] for k in (0, 1)},
        **{f"image_{k}": [s[f"image_{k}"] for s in samples] for k in (0, 1)}}, columns=COLUMNS)
    per_subset = {subset: {"examples": len(rows), "full_size": SIZES.get(subset), **_scores(rows)}
                  for subset, rows in table.groupby("category")}
    for subset, entry in per_subset.items():
        if entry["full_size"] is not None and entry["examples"] != entry["full_size"]:
            log.info("EqBen %s: %d samples read, the full set has %d", subset, entry["examples"], entry["full_size"])
    details = {"examples": len(samples), "files": [p.name for p in files], "per_subset": per_subset}
    return metrics_from_samples(table), details, table


def _scores(rows: pd.DataFrame) -> dict:
    # float32 means, as every benchmark's metrics are computed (encode.mean32)
    return {k: encode.mean32(rows[f"{k}_correct"]) * 100 for k in SCORES}


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{"text", "image", "group"}: the share (%) of samples whose text / image / group score is right, over every
    row; {"avg_text", "avg_image", "avg_group"}: the means of the sub-datasets' (categories') scores; then
    "{subset}_text", "{subset}_image", "{subset}_group" per category, in sorted order (the authors' per-sub-dataset
    numbers, evaluate_eqben_locally.py lines 73-79).

    Columns, one row per sample: category (the sub-dataset, `SUBSETS`, or "eqben" where none can be told),
    sample_id (unique within its category: the entry's id or position, "{video}/{k}" (YouCook2, GEBC),
    "{video}/{subject}/{k}" (AG), the sample_cnt (randomized), prefixed "{file stem}/" when `data` is a folder of
    several files), correct (bool: group_correct), c0_i0, c0_i1, c1_i0, c1_i1 (s(caption_j, image_k), the cosine),
    text_correct (s(c0, i0) > s(c1, i0) and s(c1, i1) > s(c0, i1)), image_correct (s(c0, i0) > s(c0, i1) and
    s(c1, i1) > s(c1, i0)), group_correct (both), all strict: a tie is wrong (eqben_acc.py lines 6-13); caption_0,
    caption_1 (AG's: the first of each list), image_0, image_1 (as the annotation gives them, relative to
    `image_dir`; a light set's .jpg where the .png is missing)."""
    metrics = _scores(samples)
    per_category = {category: _scores(rows) for category, rows in samples.groupby("category")}
    metrics.update({f"avg_{k}": float(np.mean([v[k] for v in per_category.values()])) for k in SCORES})
    for category, values in per_category.items():
        metrics.update({f"{category}_{k}": v for k, v in values.items()})
    return metrics


def score_blind(items: pd.DataFrame, scorer, model: str) -> pd.DataFrame:
    """A per-sample table `items` (columns `COLUMNS`) scored by a text-only scorer (tripletclip.blind):
    `protocols.blind_2x2`, wrong on every sample whatever the scorer (each caption ties with itself across the two
    images). `model` is unused: a tie is wrong here, there is none to break by coin."""
    return protocols.blind_2x2(items, scorer)
