"""VALSE (Parcalabescu et al., ACL 2022, arXiv 2112.07566): its format, its protocol for CLIP-like models, and the
shapes world's analogue.

Format (Heidelberg-NLP/VALSE, `data/`, README "Data Instructions"): one JSON file per piece, eleven in all,
`existence.json`, `plurals.json`, `counting-hard.json`, `counting-small-quant.json`, `counting-adversarial.json`,
`relations.json`, `action-replacement.json`, `actant-swap.json`, `coreference-standard.json`,
`coreference-hard.json`, `foil-it.json`. Each is {id: sample}; every sample holds "dataset" (the source of the image),
"original_split", "linguistic_phenomena", "image_file" (the image's file name in its source dataset), "caption",
"foil" (the caption with one word or phrase changed so that it no longer describes the image), "classes" and
"classes_foil" (the changed word and its replacement) and "mturk": {"caption", "foil", "other"}, three annotators'
votes (caption: how many chose the caption, and not the foil, as describing the image). Some pieces carry more
("dataset_idx", "nli_scores", "only_caption", ...), which is not read.

Images are not shipped: each sample's `dataset` names where its image comes from (README "Images"; the file names
as the release gives them, checked against commit 2152d90):
- "visual7w" (existence, counting-*): Visual7W's images, `v7w_{id}.jpg`;
- "coco2017" (plurals) and "coco_2017" (relations): COCO 2017 val, `000000xxxxxx.jpg`;
- "SWiG" (action-replacement, actant-swap): SWiG's `images_512/`, `{verb}_{n}.jpg`;
- "VisDial_v1.0": coreference-standard's images are VisDial v1.0 train's, i.e. COCO 2014's, named
  `COCO_train2014_*.jpg` and `COCO_val2014_*.jpg` in one piece; coreference-hard's are VisDial v1.0 val's,
  `VisualDialog_val2018_*.jpg`;
- "FOIL dataset" (foil-it): COCO val2014, `COCO_val2014_*.jpg`.
The authors' `config.py` (lines 1-24) names one image folder per piece; CE-CLIP's `VALSE/clip_valse_eval.py`
(lezhang7/Enhance-FineGrained, lines 17-50) one per source, and picks COCO 2014's train or val folder by the file
name's prefix (lines 130-137). Here a spec gives `image_dirs`, {key: folder, or a list of folders searched in order
for each file}, a key being a piece's name (the file stem) or a `dataset` value, the piece taken first; `image_dir`,
one folder for the rest. So `{"data": "VALSE/data", "image_dirs": {"visual7w": V7W, "coco2017": VAL2017,
"coco_2017": VAL2017, "SWiG": SWIG, "VisDial_v1.0": [TRAIN2014, VAL2014, VISDIAL_VAL2018], "FOIL dataset":
VAL2014}}` reads the whole release.

Protocol: the paper (§5, "pairwise ranking accuracy acc_r") scores CLIP by image-sentence similarity only: a sample
is right iff the caption scores higher against the image than the foil. Only validated samples count: the README
(lines 22-26: "the valid samples of the dataset are the ones where `sample["mturk"]["caption"] >= 2`"), both of the
authors' scripts (`caption_fits = foil['mturk']['caption']`, then `if caption_fits >= 2:`, `lxmert_valse_eval.py`
lines 32-34 and `unimodal_valse_eval.py` lines 62-64) and CE-CLIP's (`clip_valse_eval.py` lines 126-128) filter
so. Counted on the release (commit 2152d90), that keeps existence 505 of 534, plurals 851 of 1000, counting-hard
868 of 1000, counting-small-quant 900 of 1000, counting-adversarial 691 of 756, relations 535 of 614,
action-replacement 648 of 779, actant-swap 949 of 1042, coreference-standard 708 of 916, coreference-hard 104 of
141, foil-it 943 of 1000 (the "valid" sizes of the paper's Table 1, as we read it; not checked against the PDF). The
release's 24 samples whose foil equals their caption (14 actant-swap, 9 counting-hard, 1 existence) are all
unvalidated. A spec `all_samples: true` scores every sample instead, which no published number does (and scores
those 24 as ties, wrong). The comparison is strict (LXMERT's script, line 95: `cross_score[0, 1] > cross_score[1,
1]`; CE-CLIP's, lines 147-148: the softmax over 100 x the two cosines, softmaxed once more, the caption's share >
0.5, i.e. a strictly higher cosine, though computed under fp16 autocast, which can tie pairs that float32 separates),
on L2-normalized embeddings (`protocols.choose_caption`). Accuracy per piece; per instrument (the paper's Table 2
groups and CE-CLIP's `CATEGORIES`, lines 51-60: existence; plurality; counting = counting-hard (the paper's "balanced"),
counting-small-quant ("small numbers"), counting-adversarial; relations; actions = action-replacement,
actant-swap; coreference = coreference-standard, coreference-hard (the paper's "clean"); foil-it) the mean of its
pieces; `avg`, the mean of the eleven pieces (CE-CLIP's `avg`, line 153, a mean over its eleven `DATA` entries;
the paper's "Avg." column, 64.0 for CLIP, which as we read Table 2 averages its piece columns, not its instruments;
the per-piece values not checked against the PDF).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import io, shapes, world
from . import encode, protocols

# The paper's column order (Table 2), by file stem.
PIECES = ("existence", "plurals", "counting-hard", "counting-small-quant", "counting-adversarial", "relations",
          "action-replacement", "actant-swap", "coreference-standard", "coreference-hard", "foil-it")
INSTRUMENTS = {"existence": ("existence",), "plurality": ("plurals",),
               "counting": ("counting-hard", "counting-small-quant", "counting-adversarial"),
               "relations": ("relations",), "actions": ("action-replacement", "actant-swap"),
               "coreference": ("coreference-standard", "coreference-hard"), "foil-it": ("foil-it",)}
FIELDS = ("dataset", "image_file", "caption", "foil", "mturk")  # what is read; the other fields are optional
VALID_VOTES = 2  # a sample counts iff at least this many of the three annotators chose the caption and not the foil
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "score_positive", "score_negative", "image", "caption",
           "negative_caption", "dataset")

# The pieces the shapes world can express (see `build_shapes`), and the sources of their wording.
SHAPES_PIECES = ("existence", "plurals", "counting-small-quant", "relations", "foil-it")
# VALSE's counting captions are "There are exactly N X."; wordings of it, all naming the number once
_COUNTING_FRAMES = ("there are exactly {n} {noun} in the picture", "the picture shows exactly {n} {noun}",
                    "exactly {n} {noun} are in the picture", "there are exactly {n} {noun}")
_COUNTING_NOUNS = ("shapes", "objects", "things")


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """The pieces of VALSE that the shapes world can express, in VALSE's format, from test-split scenes only.

    Per piece, the candidates a test scene (stream "valse") offers, each (caption, foil) both ways round so that
    neither wording is always the true one:
    - existence: "there is a {shape} in the picture" against "there is no {shape} in the picture", for a shape the
      scene holds (the caption affirms) or one it lacks (the caption denies); VALSE's are "There are (no) X".
    - plurals: "there is exactly one {shape} in the picture" against "there are a number of {shape}s in the
      picture" (VALSE's foils turn a singular noun phrase into a plural one and back), for a shape the scene holds
      once, or twice (then the plural is the caption).
    - counting-small-quant: "there are exactly {n} shapes in the picture" (or another of `_COUNTING_FRAMES` and
      `_COUNTING_NOUNS`), n the scene's 2 or 3 objects, against the other of 2 and 3 (VALSE's "There are exactly
      N X."): the two numbers are caption and foil equally often.
    - relations: the world's replace_rel negative (the relation word replaced), worded as the caption is.
    - foil-it: the world's replace_obj negative (a shape noun replaced: FOIL's noun foils), worded likewise.
    VALSE's other pieces need what the world lacks: actions and their actants (action-replacement, actant-swap),
    dialogue (coreference-*), a count balanced over many numbers or against the most frequent answer
    (counting-hard, counting-adversarial); they are not built, and the spec's `pieces` names the five built.

    Each piece is refined as SugarCrepe's analogue is (`blind.balance`, see `sugarcrepe.build_shapes`): every blind
    scorer of `tripletclip.blind` is right on half of a piece's samples. `options["shapes_samples_per_category"]`
    samples per piece (the images shared between pieces, as VALSE's pieces share Visual7W's). Every sample is
    written valid: `dataset` "shapes", `mturk` {"caption": 3, "foil": 0, "other": 0} (the foils are false by
    construction), `classes` / `classes_foil` the changed words. Beside the files and images/: `blind.json`, the
    blind scorers' accuracies per piece, as SugarCrepe's analogue writes it."""
    from .. import blind

    n = options["shapes_samples_per_category"]
    scorers = blind.fit_scorers(blind.training_captions(world_cfg, seed, blind.BUILD_CAPTIONS))
    stream = world.test_scenes(world_cfg, seed, "valse")
    pool: list = []
    data, used = {}, {}
    for piece in SHAPES_PIECES:
        make = lambda item, idx, category: _candidates(item, idx, category, seed)  # noqa: E731
        data[piece] = {}
        kept = blind.balanced(stream, pool, make, piece, scorers, n, "VALSE")
        for idx, scene, caption, foil, classes, classes_foil in kept:
            filename = f"{idx:06d}.jpg"
            key = f"{piece}_shapes_{len(data[piece])}"
            data[piece][key] = {"dataset": "shapes", "original_split": "test", "dataset_idx": str(idx),
                                "linguistic_phenomena": piece, "image_file": filename, "caption": caption,
                                "classes": classes, "classes_foil": classes_foil,
                                "mturk": {"foil": 0, "caption": 3, "other": 0}, "foil": foil}
            used[filename] = scene
    out = Path(out_dir)
    world.render_all(out / "images", dict(sorted(used.items())), world_cfg["image_size"], f"valse:{seed}")
    for piece, samples in data.items():
        io.write_json(out / f"{piece}.json", samples)
    pairs = pd.DataFrame([{"category": p, "sample_id": k, "caption": s["caption"], "negative_caption": s["foil"]}
                          for p, d in data.items() for k, s in d.items()])
    io.write_json(out / "blind.json", blind.build_report(pairs, scorers))
    return {"data": ".", "image_dir": "images", "pieces": list(SHAPES_PIECES)}


def _plural(shape: str) -> str:
    return shape + "s"


def _candidates(item: tuple, idx: int, piece: str, seed: int) -> list[tuple]:
    """(scene index, scene, caption, foil, classes, classes_foil) of the candidates a test scene offers `piece`."""
    scene, phrasing = item
    rng = shapes.keyed_rng("valse", seed, piece, idx)
    present = sorted({o.shape for o in scene.objects})
    out = []
    if piece == "existence":
        a, no = "there is a {} in the picture", "there is no {} in the picture"
        held = rng.choice(present)
        out.append((a.format(held), no.format(held), "a", "no"))
        absent = rng.choice([s for s in shapes.SHAPES if s not in present])
        out.append((no.format(absent), a.format(absent), "no", "a"))
    elif piece == "plurals":
        one, many = "there is exactly one {} in the picture", "there are a number of {} in the picture"
        counts = {s: sum(o.shape == s for o in scene.objects) for s in present}
        single = [s for s, c in counts.items() if c == 1]
        multiple = [s for s, c in counts.items() if c > 1]
        if single:
            s = rng.choice(single)
            out.append((one.format(s), many.format(_plural(s)), s, _plural(s)))
        if multiple:
            s = rng.choice(multiple)
            out.append((many.format(_plural(s)), one.format(s), _plural(s), s))
    elif piece == "counting-small-quant":
        count = len(scene.objects)
        other = 5 - count  # 2 <-> 3: the foil's number is the other count a scene can have
        # several wordings: a blind scorer ties on the two numbers, and a tie's coin is the caption pair's own
        # (`blind.tie_break`), so with a single wording every sample of a direction would get the same coin
        text = rng.choice(_COUNTING_FRAMES).format(n="{}", noun=rng.choice(_COUNTING_NOUNS))
        out.append((text.format(count), text.format(other), count, other))
    elif piece in ("relations", "foil-it"):
        kind = "replace_rel" if piece == "relations" else "replace_obj"
        negative = shapes.negative(scene, kind, rng)
        if negative is not None:
            if kind == "replace_rel":
                classes, classes_foil = scene.relation, negative.relation
            else:
                i = next(i for i, (o, p) in enumerate(zip(scene.objects, negative.objects)) if o != p)
                classes, classes_foil = scene.objects[i].shape, negative.objects[i].shape
            out.append((shapes.describe(scene, phrasing), shapes.describe(negative, phrasing), classes, classes_foil))
    else:
        raise ValueError(f"VALSE shapes: no analogue of the piece {piece!r}; built: {', '.join(SHAPES_PIECES)}")
    return [(idx, scene, *c) for c in out]


def load(data_dir: str | Path, pieces=PIECES) -> dict[str, dict]:
    """{piece: {id: sample}} of `pieces` (file stems, in `PIECES` order), each `{piece}.json` read as UTF-8.

    Raises FileNotFoundError when `data_dir` is not a folder or lacks a piece's file (naming every one missing),
    ValueError for an unknown piece, a file that is not a non-empty {id: {dataset, image_file, caption, foil,
    mturk, ...}}, or an `mturk` without an integer vote count "caption"."""
    folder = Path(data_dir)
    unknown = [p for p in pieces if p not in PIECES]
    if unknown:
        raise ValueError(f"VALSE: unknown pieces {unknown}; expected some of {', '.join(PIECES)}")
    pieces = [p for p in PIECES if p in pieces]
    if not folder.is_dir():
        raise FileNotFoundError(f"VALSE: expected a folder holding {', '.join(f'{p}.json' for p in pieces)}; "
                                f"{folder} is not a folder")
    missing = [f"{p}.json" for p in pieces if not (folder / f"{p}.json").is_file()]
    if missing:
        raise FileNotFoundError(f"VALSE: {folder} lacks {len(missing)} of the {len(pieces)} piece files: "
                                f"{', '.join(missing)} (Heidelberg-NLP/VALSE data/; a spec's `pieces` names fewer)")
    data = {}
    for piece in pieces:
        what = f"VALSE {folder / piece}.json"
        samples = encode.read_json(folder / f"{piece}.json", what)
        if not isinstance(samples, dict) or not samples:
            raise ValueError(f"{what}: expected a non-empty {{id: {{{', '.join(FIELDS)}, ...}}}}, found "
                             f"{'an empty ' if not samples else 'a '}{type(samples).__name__}")
        encode.require_fields(list(samples.values()), FIELDS, what)
        for key, sample in samples.items():
            votes = sample["mturk"].get("caption") if isinstance(sample["mturk"], dict) else None
            if not isinstance(votes, int) or isinstance(votes, bool):
                raise ValueError(f"{what}: sample {key!r} has mturk {sample['mturk']!r}; expected {{\"caption\": "
                                 f"votes (0-3), \"foil\", \"other\"}}")
        data[piece] = samples
    return data


def _image_paths(root: str, spec: dict, piece: str, samples: dict) -> list[Path]:
    """Each sample's image: the first folder of its piece's or its dataset's `image_dirs` entry that holds the
    file (the first folder when none does), else `image_dir`."""
    dirs = spec.get("image_dirs") or {}
    paths = []
    for sample in samples.values():
        folders = dirs.get(piece, dirs.get(sample["dataset"], spec.get("image_dir")))
        if folders is None:
            raise ValueError(f"VALSE {piece}: no image folder for dataset {sample['dataset']!r}; the spec's "
                             f"image_dirs has {sorted(dirs)} and no image_dir")
        folders = [encode.resolve(root, f) for f in ([folders] if isinstance(folders, str) else folders)]
        paths.append(next((f / sample["image_file"] for f in folders if (f / sample["image_file"]).is_file()),
                          folders[0] / sample["image_file"]))
    return paths


def image_bytes(spec: dict, root: str = ".", names=None) -> dict[str, bytes]:
    """{image_file: the file's bytes} of the images `names` (the per-sample table's image values; None: every
    image), found as `evaluate` finds them (`image_dirs` per piece or dataset, else `image_dir`); a name whose file
    is missing is left out. For the error browser (`browse.EmbeddedImages`); raises as `load` does."""
    data = load(encode.resolve(root, spec["data"]), spec.get("pieces") or PIECES)
    out = {}
    for piece, samples in data.items():
        for sample, path in zip(samples.values(), _image_paths(root, spec, piece, samples)):
            name = sample["image_file"]
            if (names is None or name in names) and name not in out and path.is_file():
                out[name] = path.read_bytes()
    return out


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): pairwise accuracy acc_r (%) per piece, per instrument and `avg`
    (`metrics_from_samples`); details {"samples": {piece: samples scored}, "files": {piece: samples in the file}};
    the table, one row per scored sample, pieces in `PIECES` order, each file's order.

    spec: `data` (the folder of the piece files), `image_dirs` / `image_dir` (see the module docstring), `pieces`
    (default all eleven), `all_samples` (default false: only the validated samples, mturk caption >= 2, as the
    paper). A missing file, field or image fails before anything is encoded."""
    if not spec.get("data"):
        raise ValueError("VALSE: the spec names no `data` folder (Heidelberg-NLP/VALSE data/)")
    data = load(encode.resolve(root, spec["data"]), spec.get("pieces") or PIECES)
    files = {piece: len(samples) for piece, samples in data.items()}
    if not spec.get("all_samples"):
        data = {piece: {k: s for k, s in samples.items() if s["mturk"]["caption"] >= VALID_VOTES}
                for piece, samples in data.items()}
    paths = {piece: _image_paths(root, spec, piece, samples) for piece, samples in data.items()}
    every = sorted({p for ps in paths.values() for p in ps})
    encode.require_files(every, "VALSE images (see the spec's image_dirs / image_dir)")
    images, image_row = encode.index(every)
    captions, caption_row = encode.index(sorted({c for samples in data.values() for s in samples.values()
                                                 for c in (s["caption"], s["foil"])}))
    image_features = encode.images(model, preprocess, images, batch_size, device)
    text_features = encode.texts(model, tokenizer, captions, batch_size, device)
    rows = []
    for piece, samples in data.items():
        if not samples:
            continue
        choice = protocols.choose_caption(
            image_features[[image_row[p] for p in paths[piece]]],
            [text_features[[caption_row[s[c]] for s in samples.values()]] for c in ("caption", "foil")])
        for (key, s), (p, n), ok in zip(samples.items(), choice.scores.tolist(), choice.correct.tolist()):
            rows.append({"category": piece, "sample_id": str(key), "correct": ok, "score_positive": p,
                         "score_negative": n, "image": s["image_file"], "caption": s["caption"],
                         "negative_caption": s["foil"], "dataset": s["dataset"]})
    table = pd.DataFrame(rows, columns=COLUMNS)
    details = {"samples": {piece: len(samples) for piece, samples in data.items()}, "files": files}
    return metrics_from_samples(table), details, table


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """The metrics of a table of `evaluate`'s: {piece: acc_r %} for the pieces present, in `PIECES` order; then
    `instrument_{name}` for each instrument with a piece present, the mean of its pieces' accuracies (e.g.
    `instrument_counting`, of counting-hard, counting-small-quant and counting-adversarial); then `avg`, the mean
    of the pieces' accuracies (VALSE's Avg.).

    Columns, one row per scored sample: category (the piece: its file's stem), sample_id (the sample's key in the
    file), correct (bool: score_positive > score_negative, strictly: a tie is wrong), score_positive /
    score_negative (the cosine similarity of the image and the caption / the foil), image (`image_file`),
    caption, negative_caption (the foil), dataset (the sample's `dataset`, the image's source). ValueError when
    the table names no known piece."""
    metrics = {}
    for piece in PIECES:
        correct = samples.loc[samples["category"] == piece, "correct"]
        if not correct.empty:
            metrics[piece] = 100 * int(correct.sum()) / len(correct)
    unknown = sorted(set(samples["category"]) - set(PIECES))
    if not metrics or unknown:
        raise ValueError(f"VALSE: the table's pieces {sorted(set(samples['category']))} are not some of "
                         f"{', '.join(PIECES)}")
    for instrument, members in INSTRUMENTS.items():
        present = [metrics[p] for p in members if p in metrics]
        if present:
            metrics[f"instrument_{instrument}"] = sum(present) / len(present)
    pieces = [metrics[p] for p in PIECES if p in metrics]
    metrics["avg"] = sum(pieces) / len(pieces)
    return metrics
