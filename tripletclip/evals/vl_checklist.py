"""VL-CheckList (Zhao et al., arXiv 2207.00221): its format, its image-text contrast protocol, and the shapes
world's analogue.

Format (om-ai-lab/VL-CheckList, checked at commit 6f8d6a3): a corpus yaml per (sub-type, source),
`corpus/v1/{Type}/{sub-type path}/{name}.yaml`, holding `ANNO_PATH` (a JSON file under `data/`, relative to the
repository's root), `IMG_ROOT` (the source's image folder, relative to where the evaluation runs: "vg/", "swig/",
"hake/", and "vg" without the slash in Attribute/action and Attribute/color) and `TYPE: "TUPLE_JSON"`. A JSON file
is a list of [image path (relative to IMG_ROOT), {"POS": [captions], "NEG": [captions]}] entries; VG's, VAW's,
HAKE's and SWiG's Relation/action file hold one caption each ("woman has hair" against "beds has hair"), SWiG's
Object files three. E.g. `corpus/v1/Object/Size/large/vg_subj.yaml` names `data/Object/Size/vg_size/
vg_subj_large.json` with IMG_ROOT "vg/", whose paths are "VG_100K/2361911.jpg". Some entries' NEG equals their POS
(66 in Attribute/vg/color.json, 28 in Relation/vg/action.json, a few elsewhere): a tie, wrong under the strict
comparison, as in the authors' code. Images (`DATASETS.md`): one folder per source beside each other, `vg/` (Visual
Genome's VG_100K/ and VG_100K_2/, which VAW's files use too), `swig/` (SWiG's images_512, flat), `hake/` (HAKE's
hake_images_20190730/, hcvrd/, hico_20160224_det/images/, openimages/, pic/, vcoco/{train,val}2014/). A spec gives
`benchmark` (the repository's folder, holding corpus/ and data/) and `image_root` (the folder holding vg/, swig/,
hake/, where IMG_ROOT is resolved; `image_dirs` {IMG_ROOT name without "/": folder} overrides one).

The sub-types and their files are those of the authors' `corpus.json` (which `radar.py` reads): Object Size
(large, medium, small) and Location (center, mid, margin), each from vg_obj, vg_subj (the replaced noun is the
relation's object / subject), swig_agent, swig_destination, swig_item, swig_tool and hake; Attribute color,
material, size, state and action, each from vg and vaw; Relation action (vg, swig, hake) and spatial (vg). The
release's `swig_place_*.json` files are empty and no corpus yaml names them. A file is named as the authors' output
files (`vl_checklist/evaluate.py` lines 126-133: `data_type.replace("/","_")`, then `f'{file_name}_{name}.json'`)
and `corpus.json` name it, "{type path with _}_{name}", e.g. "Object_Size_large_vg_subj".

Protocol (`vl_checklist/evaluate.py`, `Evaluate.eval`, task "itc", lines 93-124, and `data_loader.py`,
`load_itc_samples`, lines 41-58): per entry, the image against the first POS and the first NEG caption (lines
104-105), each scored alone; right iff the positive's score is strictly higher (line 117, `result_tmp[i][0][1] >
result_tmp[i][1][1]`: an ITM model's match probability; CE-CLIP's fork, rabiulcste/vl_checklist at ca0c68d, scores
CLIP by the cosine, `example_models/open_clip/engine.py` lines 76-82, and compares `result_tmp[i][0] >
result_tmp[i][1]`, `vl_checklist/evaluate.py` line 217, which is what is done here, on L2-normalized embeddings:
`protocols.choose_caption`); accuracy per file. The loader silently skips an entry whose image is missing
(`data_loader.py` line 51); here a missing image fails, naming it, unless the spec sets `skip_missing_images: true`
(then skipped and counted in details, as the authors' loader does). Their config (`configs/sample.yaml`, MAX_NUM 2000;
CE-CLIP's four `configs/our_clip_*.yaml` too) keeps the first MAX_NUM / 2 entries of each file after that filter
(`evaluate.py` lines 98-99): a spec's `max_per_file` does that, `MAX_PER_FILE` (1000) when the spec does not name it,
every entry when it is null. Aggregation (`radar.py` `generate_chart` over `corpus.json`, lines 122-137): a sub-type's
accuracy is the mean over its sources of the mean over that source's files. Where a file has no entry left (every image
missing), the authors' code fails (`evaluate.py` line 124 divides by zero; `radar.py` lines 130-132 stop at a file not
evaluated); here it is left out of the means. The paper and CE-CLIP report Object, Attribute and Relation: here each is
the mean of its sub-types (Object of the six, Attribute of the five, Relation of the two) and `avg` the mean of the
three, all macro, as `radar.py` averages; the authors' code has no per-type number, so that last level is this module's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from .. import io, shapes, world
from . import encode, protocols

# Sub-types in the order of radar.py's spoke labels (lines 143-144): (metric name, type, corpus path under corpus/v1,
# {source: yaml names}). Its scores come in corpus.json's order, whose attributes run color, material, action, size,
# state: radar.py (and TSVLC's copy) label action's score "A-Size", size's "A-State", state's "A-Action", so a
# published per-attribute number may be another's. Here each sub-type is found by its corpus path, not by position.
_OBJECT_SOURCES = {"vg": ("vg_obj", "vg_subj"), "swig": ("swig_agent", "swig_destination", "swig_item", "swig_tool"),
                   "hake": ("hake",)}
_ATTRIBUTE_SOURCES = {"vg": ("vg",), "vaw": ("vaw",)}
SUBTYPES = {
    "object_size_large": ("object", "Object/Size/large", _OBJECT_SOURCES),
    "object_size_medium": ("object", "Object/Size/medium", _OBJECT_SOURCES),
    "object_size_small": ("object", "Object/Size/small", _OBJECT_SOURCES),
    "object_location_center": ("object", "Object/Location/center", _OBJECT_SOURCES),
    "object_location_mid": ("object", "Object/Location/mid", _OBJECT_SOURCES),
    "object_location_margin": ("object", "Object/Location/margin", _OBJECT_SOURCES),
    "attribute_color": ("attribute", "Attribute/color", _ATTRIBUTE_SOURCES),
    "attribute_material": ("attribute", "Attribute/material", _ATTRIBUTE_SOURCES),
    "attribute_size": ("attribute", "Attribute/size", _ATTRIBUTE_SOURCES),
    "attribute_state": ("attribute", "Attribute/state", _ATTRIBUTE_SOURCES),
    "attribute_action": ("attribute", "Attribute/action", _ATTRIBUTE_SOURCES),
    "relation_action": ("relation", "Relation/action", {"vg": ("vg",), "swig": ("swig",), "hake": ("hake",)}),
    "relation_spatial": ("relation", "Relation/spatial", {"vg": ("vg",)}),
}
TYPES = ("object", "attribute", "relation")
MAX_PER_FILE = 1000  # the authors' MAX_NUM / 2: configs/sample.yaml's MAX_NUM is 2000, as are CE-CLIP's
SOURCES = ("vg", "vaw", "swig", "hake")
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "score_positive", "score_negative", "image", "caption",
           "negative_caption", "subtype", "source")

# The sub-types the shapes world can express (see `build_shapes`), all from source "vg".
SHAPES_SUBTYPES = ("object_size_large", "object_size_small", "attribute_color", "attribute_size", "relation_spatial")
_SHAPES_DATA = {  # (sub-type, yaml name) -> ANNO_PATH, as the release names the vg files
    ("object_size_large", "vg_subj"): "data/Object/Size/vg_size/vg_subj_large.json",
    ("object_size_large", "vg_obj"): "data/Object/Size/vg_size/vg_obj_large.json",
    ("object_size_small", "vg_subj"): "data/Object/Size/vg_size/vg_subj_small.json",
    ("object_size_small", "vg_obj"): "data/Object/Size/vg_size/vg_obj_small.json",
    ("attribute_color", "vg"): "data/Attribute/vg/color.json",
    ("attribute_size", "vg"): "data/Attribute/vg/size.json",
    ("relation_spatial", "vg"): "data/Relation/vg/spatial.json",
}


def file_key(subtype: str, name: str) -> str:
    """The authors' name of a corpus file, e.g. ("object_size_large", "vg_subj") -> "Object_Size_large_vg_subj"."""
    return f"{SUBTYPES[subtype][1].replace('/', '_')}_{name}"


def files(subtypes=tuple(SUBTYPES), sources=SOURCES) -> list[tuple[str, str, str]]:
    """(sub-type, source, yaml name) of every corpus file of `subtypes` from `sources`, in `SUBTYPES` order."""
    unknown = [s for s in subtypes if s not in SUBTYPES] + [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"VL-CheckList: unknown sub-types or sources {unknown}; expected some of "
                         f"{', '.join(SUBTYPES)} and of {', '.join(SOURCES)}")
    return [(subtype, source, name) for subtype in SUBTYPES if subtype in subtypes
            for source, names in SUBTYPES[subtype][2].items() if source in sources for name in names]


_KEYS = {file_key(subtype, name): (subtype, source) for subtype, source, name in files()}


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """VL-CheckList's Visual Genome files that the shapes world can express, in VL-CheckList's layout, from
    test-split scenes only: corpus/v1/.../vg*.yaml, data/... JSON and vg/VG_100K/{index}.jpg.

    A scene's caption is "objects[0] relation objects[1]" (the world's description, a third free-standing object
    named after it), so its subject and object are VG's. Per file, the candidates a test scene (stream
    "vl_checklist") offers, worded as the positive is:
    - Object/Size/{large, small}/vg_subj, vg_obj: the subject's / the object's shape replaced (VG's object
      negatives replace the noun of a triple's subject or object), filed by that object's size (the world's two:
      VL-CheckList's medium is not built);
    - Attribute/color/vg: one related object's colour replaced by another colour; Attribute/size/vg: its size
      flipped (small <-> large);
    - Relation/spatial/vg: the relation replaced (the world's replace_rel).
    Object location (center, mid, margin), attribute material, state and action, relation action and the other
    sources (vaw, swig, hake) need what the world lacks, and are not built; the spec's `subtypes` and `sources`
    name what is. Each file is refined as SugarCrepe's analogue is (`blind.balance`): every blind scorer is right on
    half of its samples. `options["shapes_samples_per_category"]` samples per file; one POS and one NEG caption
    each, as VG's files hold. Beside the files: `blind.json`, the blind scorers' accuracies per file."""
    from .. import blind

    n = options["shapes_samples_per_category"]
    scorers = blind.fit_scorers(blind.training_captions(world_cfg, seed, blind.BUILD_CAPTIONS))
    stream = world.test_scenes(world_cfg, seed, "vl_checklist")
    pool: list = []
    out = Path(out_dir)
    data, used = {}, {}
    for (subtype, name), anno_path in _SHAPES_DATA.items():
        category = file_key(subtype, name)
        make = lambda item, idx, cat, s=subtype, nm=name: _candidates(item, idx, s, nm, seed)  # noqa: E731
        entries = []
        for idx, scene, caption, negative in blind.balanced(stream, pool, make, category, scorers, n, "VL-CheckList"):
            path = f"VG_100K/{idx:06d}.jpg"
            entries.append([path, {"POS": [caption], "NEG": [negative]}])
            used[path] = scene
        data[category] = entries
        io.write_json(out / anno_path, entries)
        corpus = out / "corpus" / "v1" / SUBTYPES[subtype][1] / f"{name}.yaml"
        corpus.parent.mkdir(parents=True, exist_ok=True)
        corpus.write_text(f'ANNO_PATH: "{anno_path}"\nIMG_ROOT: "vg/"\nTYPE: "TUPLE_JSON"\n', encoding="utf-8")
    world.render_all(out / "vg" / "VG_100K", {Path(p).name: s for p, s in sorted(used.items())},
                     world_cfg["image_size"], f"vl_checklist:{seed}")
    pairs = pd.DataFrame([{"category": c, "sample_id": str(i), "caption": e[1]["POS"][0],
                           "negative_caption": e[1]["NEG"][0]} for c, entries in data.items()
                          for i, e in enumerate(entries)])
    io.write_json(out / "blind.json", blind.build_report(pairs, scorers))
    return {"benchmark": ".", "image_root": ".", "subtypes": list(SHAPES_SUBTYPES), "sources": ["vg"]}


def _candidates(item: tuple, idx: int, subtype: str, name: str, seed: int) -> list[tuple]:
    """(scene index, scene, caption, negative) of the candidates a test scene offers one file (see `build_shapes`)."""
    import dataclasses

    scene, phrasing = item
    rng = shapes.keyed_rng("vl_checklist", seed, subtype, name, idx)
    negatives = []
    if subtype.startswith("object_size"):
        i = 0 if name == "vg_subj" else 1
        if scene.objects[i].size == subtype.rsplit("_", 1)[1]:
            negatives = [_with(scene, i, shape=s) for s in shapes.SHAPES if s != scene.objects[i].shape]
    elif subtype == "attribute_color":
        negatives = [_with(scene, i, colour=c) for i in (0, 1) for c in shapes.COLOURS if c != scene.objects[i].colour]
    elif subtype == "attribute_size":
        negatives = [_with(scene, i, size=shapes.SIZES[1 - shapes.SIZES.index(scene.objects[i].size)]) for i in (0, 1)]
    elif subtype == "relation_spatial":
        negatives = [dataclasses.replace(scene, relation=r) for r in shapes.RELATIONS if r != scene.relation]
    negatives = [s for s in negatives if s != scene]
    if not negatives:
        return []
    return [(idx, scene, shapes.describe(scene, phrasing), shapes.describe(rng.choice(negatives), phrasing))]


def _with(scene: shapes.Scene, i: int, **changes) -> shapes.Scene:
    import dataclasses

    objects = list(scene.objects)
    objects[i] = dataclasses.replace(objects[i], **changes)
    return shapes.Scene(tuple(objects), scene.relation)


def corpus(bench_dir: str | Path, subtypes=tuple(SUBTYPES), sources=SOURCES) -> dict[str, dict]:
    """{file key: {"subtype", "source", "anno_path", "img_root"}} of the corpus yamls of `subtypes` from `sources`
    (`files`), read as UTF-8; the data JSONs they name are not read.

    Raises FileNotFoundError when `bench_dir` is not a folder or a corpus yaml is missing (naming every missing
    one), ValueError when a yaml lacks ANNO_PATH or IMG_ROOT."""
    bench = Path(bench_dir)
    wanted = files(subtypes, sources)
    if not bench.is_dir():
        raise FileNotFoundError(f"VL-CheckList: expected the repository's folder (corpus/v1/ and data/); {bench} is "
                                f"not a folder")
    yamls = {file_key(s, n): bench / "corpus" / "v1" / SUBTYPES[s][1] / f"{n}.yaml" for s, _, n in wanted}
    missing = [str(p.relative_to(bench)) for p in yamls.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"VL-CheckList: {bench} lacks {len(missing)} of the {len(yamls)} corpus files: "
                                f"{', '.join(missing)} (om-ai-lab/VL-CheckList corpus/; a spec's `subtypes` and "
                                f"`sources` name fewer)")
    out = {}
    for (subtype, source, _), (key, path) in zip(wanted, yamls.items()):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(config, dict) or not all(config.get(k) for k in ("ANNO_PATH", "IMG_ROOT")):
            raise ValueError(f"VL-CheckList {path}: expected ANNO_PATH and IMG_ROOT, found {config!r}")
        out[key] = {"subtype": subtype, "source": source, "anno_path": config["ANNO_PATH"],
                    "img_root": str(config["IMG_ROOT"])}
    return out


def load(bench_dir: str | Path, subtypes=tuple(SUBTYPES), sources=SOURCES) -> dict[str, dict]:
    """`corpus` with each file's "entries" beside, its data JSON read as UTF-8.

    Raises as `corpus` does, FileNotFoundError when a JSON a yaml names is missing, ValueError when one is not a
    non-empty list of [image path, {"POS": [caption, ...], "NEG": [caption, ...]}]."""
    bench = Path(bench_dir)
    out = corpus(bench, subtypes, sources)
    for key, f in out.items():
        what = f"VL-CheckList {key} ({bench / f['anno_path']})"
        entries = encode.read_json(bench / f["anno_path"], what)
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{what}: expected a non-empty list of [image path, {{\"POS\": [...], \"NEG\": [...]}}], "
                             f"found {'an empty ' if not entries else 'a '}{type(entries).__name__}")
        for i, entry in enumerate(entries):
            ok = (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                  and isinstance(entry[1], dict)
                  and all(isinstance(entry[1].get(k), list) and entry[1][k] for k in ("POS", "NEG")))
            if not ok:
                raise ValueError(f"{what}: entry {i} is {str(entry)[:200]}; expected [image path, {{\"POS\": "
                                 f"[caption, ...], \"NEG\": [caption, ...]}}]")
        f["entries"] = entries
    return out


def image_folders(spec: dict, root: str = ".", files_of: dict | None = None) -> dict[str, Path]:
    """{file key: the folder its entries' image paths are relative to}: `image_dirs`' folder for the file's IMG_ROOT
    where the spec names one, else `image_root` (default: the benchmark folder) / IMG_ROOT. `files_of`: `corpus` or
    `load`'s answer, when already read (else the yamls are read). Paths relative to `root`."""
    bench = encode.resolve(root, spec["benchmark"])
    image_root = encode.resolve(root, spec.get("image_root")) or bench
    dirs = {k.strip("/"): encode.resolve(root, v) for k, v in (spec.get("image_dirs") or {}).items()}
    if files_of is None:
        files_of = corpus(bench, spec.get("subtypes") or tuple(SUBTYPES), spec.get("sources") or SOURCES)
    return {key: dirs.get(f["img_root"].strip("/"), image_root / f["img_root"]) for key, f in files_of.items()}


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): accuracy (%) per sub-type, per type and `avg` (`metrics_from_samples`);
    details {"files": {file key: accuracy %}, "samples": {file key: entries scored}, "skipped": {file key: entries
    skipped for a missing image}}; the table, one row per scored entry, files in `files` order, entries in file order.

    spec: `benchmark` (the VL-CheckList folder: corpus/v1/ and data/), `image_root` (holding each IMG_ROOT; default
    the benchmark folder), `image_dirs` ({IMG_ROOT name: folder}, optional), `subtypes` / `sources` (default all),
    `max_per_file` (the first that many entries a file keeps after the missing-image filter, as the authors'
    MAX_NUM / 2; absent: `MAX_PER_FILE`, 1000, as the authors' and CE-CLIP's configs; null: every entry),
    `skip_missing_images` (default false: a missing image fails before anything is encoded; every entry's image is
    required, not only the first `max_per_file`, so that the entries kept are the authors')."""
    if not spec.get("benchmark"):
        raise ValueError("VL-CheckList: the spec names no `benchmark` folder (om-ai-lab/VL-CheckList: corpus/, data/)")
    bench = encode.resolve(root, spec["benchmark"])
    data = load(bench, spec.get("subtypes") or tuple(SUBTYPES), spec.get("sources") or SOURCES)
    folders = image_folders(spec, root, data)
    limit = spec.get("max_per_file", MAX_PER_FILE)
    scored, skipped = {}, {}
    for key, f in data.items():
        folder = folders[key]
        entries = [(i, e, folder / e[0]) for i, e in enumerate(f["entries"])]
        if spec.get("skip_missing_images"):
            kept = [x for x in entries if x[2].is_file()]
            skipped[key], entries = len(entries) - len(kept), kept
        else:
            skipped[key] = 0
            encode.require_files([x[2] for x in entries], f"VL-CheckList {key} images in {folder}")
        scored[key] = entries[:limit] if limit else entries
    images, image_row = encode.index(sorted({x[2] for entries in scored.values() for x in entries}))
    captions, caption_row = encode.index(sorted({c for entries in scored.values() for _, e, _ in entries
                                                 for c in (e[1]["POS"][0], e[1]["NEG"][0])}))
    image_features = encode.images(model, preprocess, images, batch_size, device)
    text_features = encode.texts(model, tokenizer, captions, batch_size, device)
    rows = []
    for key, entries in scored.items():
        if not entries:
            continue
        choice = protocols.choose_caption(
            image_features[[image_row[p] for _, _, p in entries]],
            [text_features[[caption_row[e[1][c][0]] for _, e, _ in entries]] for c in ("POS", "NEG")])
        for (i, e, _), (p, n), ok in zip(entries, choice.scores.tolist(), choice.correct.tolist()):
            rows.append({"category": key, "sample_id": str(i), "correct": ok, "score_positive": p,
                         "score_negative": n, "image": e[0], "caption": e[1]["POS"][0],
                         "negative_caption": e[1]["NEG"][0], "subtype": data[key]["subtype"],
                         "source": data[key]["source"]})
    table = pd.DataFrame(rows, columns=COLUMNS)
    per_file = {key: 100 * int(rows["correct"].sum()) / len(rows)
                for key, rows in table.groupby("category", sort=False)}
    details = {"files": per_file, "samples": {k: len(e) for k, e in scored.items()}, "skipped": skipped}
    return metrics_from_samples(table), details, table


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """The metrics of a table of `evaluate`'s: {sub-type: accuracy %} for the sub-types present, in `SUBTYPES`
    order, each the mean over its sources of the mean over that source's files of their accuracies (radar.py's);
    then each type present (object, attribute, relation), the mean of its sub-types; then `avg`, the mean of the
    types.

    Columns, one row per scored entry: category (the file key, e.g. "Object_Size_large_vg_subj"), sample_id (the
    entry's index in its JSON list), correct (bool: score_positive > score_negative, strictly: a tie is wrong),
    score_positive / score_negative (the cosine similarity of the image and the first POS / the first NEG caption),
    image (the path as the entry gives it, under IMG_ROOT), caption, negative_caption (the first POS and NEG),
    subtype (a key of `SUBTYPES`), source (vg, vaw, swig or hake). ValueError for a file key not in `SUBTYPES`."""
    unknown = sorted(set(samples["category"]) - set(_KEYS))
    if unknown or samples.empty:
        raise ValueError(f"VL-CheckList: the table's files {unknown or 'none'} are not files of the corpus "
                         f"(e.g. {next(iter(_KEYS))})")
    per_file = {key: 100 * int(rows["correct"].sum()) / len(rows)
                for key, rows in samples.groupby("category", sort=False)}
    metrics = {}
    for subtype, (_, _, sources) in SUBTYPES.items():
        means = []
        for source, names in sources.items():
            present = [per_file[file_key(subtype, n)] for n in names if file_key(subtype, n) in per_file]
            if present:
                means.append(sum(present) / len(present))
        if means:
            metrics[subtype] = sum(means) / len(means)
    for kind in TYPES:
        present = [metrics[s] for s, (t, _, _) in SUBTYPES.items() if t == kind and s in metrics]
        if present:
            metrics[kind] = sum(present) / len(present)
    types = [metrics[t] for t in TYPES if t in metrics]
    metrics["avg"] = sum(types) / len(types)
    return metrics
