"""CREPE (tripletclip/evals/crepe.py) in the authors' layout (RAIVNLab/CREPE at 1fa81c4: the unzipped
prod_hard_negatives/{type}/prod_vg_hard_negs_{type}_complexity_{c}.csv and syst_hard_negatives/
syst_vg_hard_negs_{split}_in_{train}.csv, columns image_id, x, y, width, height, caption and the foil lists; Visual
Genome's VG_100K/ and VG_100K_2/{id}.jpg), written tiny here with JPEGs made here.

The reference is ours, written from reading the authors' code (nothing of it copied): per CSV row, on its own, the
image looked for in VG_100K then VG_100K_2, cropped to its region, the caption and its foils (`ast.literal_eval`)
encoded, the caption's rank its position in the descending argsort of the similarities (`get_one2many_rank`), and per
file R@k = mean(rank < k) (`get_one2many_metrics`); vl_compo's pooled numbers are correct rows over all rows of a
negative type's files."""

import ast

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.colour_model import COLOURS, ColourModel
from helpers.colour_model import preprocess as colour_preprocess
from helpers.colour_model import tokenizer as colour_tokenizer
from PIL import Image

from tripletclip import blind
from tripletclip.evals import crepe

# (image id, folder inside the VG root: "" is a flat copy, size (w, h))
IMAGES = {1: ("VG_100K", (40, 30)), 2: ("VG_100K", (36, 36)), 3: ("VG_100K_2", (48, 32))}
SUBJECTS = [("dog", "brown", "grass"), ("cat", "white", "sofa"), ("man", "tall", "street")]


def noisy_jpeg(path, size, rng):
    """A tiny noisy JPEG, so that a random model scores every region differently."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(np.array(rng.integers(0, 256, 3)) + rng.integers(-60, 60, (size[1], size[0], 3)), 0, 255)
    Image.fromarray(pixels.astype(np.uint8)).save(path, format="JPEG")


def texts_of(kind, complexity, subject, attribute, place):
    """A caption and its foils, of one negative type, longer with the complexity."""
    extra = " near a red car" if complexity > 4 else ""
    caption = f"a {attribute} {subject} on the {place}{extra}"
    foils = {"atom": [f"a {attribute} horse on the {place}{extra}", f"a green {subject} on the {place}{extra}",
                      f"a {attribute} {subject} on the roof{extra}"],
             "swap": [f"a {place} on the {attribute} {subject}{extra}"],
             "negate": [f"a {attribute} {subject} not on the {place}{extra}",
                        f"there is no {attribute} {subject} on the {place}{extra}"]}[kind]
    return caption, foils


def region(i, image_id):
    w, h = IMAGES[image_id][1]
    return {"x": (3 * i) % (w // 2), "y": (2 * i) % (h // 2), "width": w // 2 + i % 3, "height": h // 2 + 1}


def write_csv(path, rows):
    """As pandas writes a list column (what `ast.literal_eval` reads back): "['a', 'b']"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8")


def write_crepe(root, complexities=(4, 5), seed=0):
    """data/ (the two zips unpacked) and vg/ (VG_100K, VG_100K_2): three productivity rows per file, and the cc12m
    systematicity files, one of whose rows has no valid comp foil."""
    rng = np.random.default_rng(seed)
    data, vg = root / "data", root / "vg"
    for image_id, (folder, size) in IMAGES.items():
        noisy_jpeg(vg / folder / f"{image_id}.jpg", size, rng)
    for kind in crepe.PROD_TYPES:
        for c in complexities:
            rows = []
            for i, (subject, attribute, place) in enumerate(SUBJECTS):
                image_id = 1 + (i + c) % 3
                caption, foils = texts_of(kind, c, subject, attribute, place)
                rows.append({"image_id": image_id, **region(i + c, image_id), "caption": caption,
                             "hard_negs": foils})
            write_csv(data / crepe.prod_file(kind, c), rows)
    for split in crepe.SYST_SPLITS:
        rows = []
        for i, (subject, attribute, place) in enumerate(SUBJECTS[:2]):
            image_id = 1 + i + (split == "unseen_compounds")
            caption, atom = texts_of("atom", 4, subject, attribute, place)
            comp = [] if i == 1 else [f"a {place} {subject}", f"a {attribute} {place}"]
            rows.append({"image_id": image_id, **region(i, image_id), "caption": caption,
                         "valid_hard_negs_atom": atom[:2], "valid_hard_negs_comp": comp,
                         "valid_hard_negs_combined": atom[:2] + comp})
        write_csv(data / crepe.syst_file(split, "cc12m"), rows)
    return data, vg


# ---------------------------------------------------------------------------------------------------------------
# Our reference, one row at a time


def reference_file(tiny, vg, csv, column):
    """Per row of one CSV: (the caption's 0-based rank as `get_one2many_rank` gives it, the scores [caption, foils])
    and the smallest gap between the caption's score and any foil's."""
    model, preprocess, tokenizer = tiny
    frame = pd.read_csv(csv)
    ranks, scores, gaps = [], [], []
    with torch.no_grad():
        for row in frame.to_dict("records"):
            path = next(p for p in (vg / "VG_100K" / f"{row['image_id']}.jpg",
                                    vg / "VG_100K_2" / f"{row['image_id']}.jpg") if p.exists())
            image = Image.open(path).convert("RGB")
            x, y, w, h = row["x"], row["y"], row["width"], row["height"]
            image = image.crop((x, y, x + w, y + h))  # their TF.crop(image, top=y, left=x, height=h, width=w)
            image_features = torch.nn.functional.normalize(model.encode_image(preprocess(image)[None]), dim=-1)
            texts = [str(row["caption"])] + list(ast.literal_eval(row[column]))
            text_features = torch.nn.functional.normalize(model.encode_text(tokenizer(texts)), dim=-1)
            logits = image_features @ text_features.t()
            ranking = torch.argsort(logits, descending=True)
            ranks.append(int(torch.where(ranking == 0)[1][0]))
            scores.append(logits[0].tolist())
            gaps += [abs(logits[0, 0].item() - s) for s in logits[0, 1:].tolist()]
    return ranks, scores, min(gaps, default=1.0)


def test_every_file_is_ranked_as_the_authors_rank_it_and_pooled_as_vl_compo_pools(tmp_path, tiny):
    data, vg = write_crepe(tmp_path)
    spec = {"data": "data", "image_dir": "vg", "complexities": [4, 5]}
    metrics, details, samples = crepe.evaluate(*tiny, spec, str(tmp_path), batch_size=4)
    assert tuple(samples.columns) == crepe.COLUMNS and samples["correct"].dtype == bool
    categories = [f"{k}_{c}" for k in crepe.PROD_TYPES for c in (4, 5)]
    assert list(metrics) == categories + ["atom", "swap", "negate", "avg"]
    pooled = {k: [] for k in crepe.PROD_TYPES}
    for kind in crepe.PROD_TYPES:
        for c in (4, 5):
            category = f"{kind}_{c}"
            rows = samples[samples["category"] == category]
            csv = data / crepe.prod_file(kind, c)
            ranks, scores, gap = reference_file(tiny, vg, csv, "hard_negs")
            assert gap > 1e-4  # no comparison so close that batching could flip it
            ours = [[p] + list(n) for p, n in zip(rows["score_positive"], rows["scores_negative"])]
            assert ours == [pytest.approx(s, abs=1e-5) for s in scores]
            assert rows["correct"].tolist() == [r == 0 for r in ranks]
            assert metrics[category] == pytest.approx(float(np.mean(np.array(ranks) < 1)) * 100)
            theirs = {f"R@{k}": float(np.mean(np.array(ranks) < k)) * 100 for k in (1, 3, 5, 10)}
            assert {k: details[category][k] for k in theirs} == pytest.approx(theirs)
            assert details[category]["mean_rank"] == pytest.approx(np.mean(ranks) + 1)
            assert details[category]["median_rank"] == np.floor(np.median(ranks)) + 1
            n_texts = 1 + len(texts_of(kind, c, "x", "y", "z")[1])
            assert details[category]["retrieval_set_sizes"] == {str(n_texts): 3}
            assert details[category]["chance"] == pytest.approx(100 / n_texts)
            assert details[category]["file"] == crepe.prod_file(kind, c)
            pooled[kind] += ranks
            # the table: the CSV's rows in order, the caption and its foils as written, the best foil
            frame = pd.read_csv(csv)
            assert rows["sample_id"].tolist() == ["0", "1", "2"]
            assert rows["caption"].tolist() == frame["caption"].tolist()
            assert rows["negative_captions"].tolist() == [ast.literal_eval(v) for v in frame["hard_negs"]]
            assert rows["negative_caption"].tolist() == [n[int(np.argmax(s[1:]))] for n, s in zip(
                rows["negative_captions"], scores)]
            assert rows[["image_id", "x", "y", "width", "height"]].values.tolist() == frame[
                ["image_id", "x", "y", "width", "height"]].values.tolist()
            assert set(rows["split"]) == {str(c)} and set(rows["negative_type"]) == {kind}
    # vl_compo's: every complexity of a type pooled (not the mean of the files'), and their mean
    for kind, ranks in pooled.items():
        assert metrics[kind] == pytest.approx(100 * sum(r == 0 for r in ranks) / len(ranks))
        assert details[kind] == {"samples": 6, "files": [f"{kind}_4", f"{kind}_5"]}
    assert metrics["avg"] == pytest.approx(sum(metrics[k] for k in crepe.PROD_TYPES) / 3)
    # the image as its path inside image_dir: VG_100K first, then VG_100K_2, as get_image_by_id looks
    assert set(samples["image"]) == {"VG_100K/1.jpg", "VG_100K/2.jpg", "VG_100K_2/3.jpg"}
    assert all((vg / i).is_file() for i in samples["image"])
    # the metrics are the table's, also after parquet (as workflow_scripts/evaluate.py writes it)
    assert crepe.metrics_from_samples(samples) == metrics
    samples.to_parquet(tmp_path / "samples.parquet", index=False)
    assert crepe.metrics_from_samples(pd.read_parquet(tmp_path / "samples.parquet")) == metrics


def test_systematicity_reads_one_file_per_split_and_three_foil_columns(tmp_path, tiny):
    data, vg = write_crepe(tmp_path)
    spec = {"data": str(data), "image_dir": str(vg), "compo_types": ["systematicity"]}
    metrics, details, samples = crepe.evaluate(*tiny, spec, batch_size=3)
    categories = [f"{s}_{k}" for s in crepe.SYST_SPLITS for k in crepe.SYST_TYPES]
    assert list(metrics) == categories  # no productivity: no pooled type, no avg
    for split in crepe.SYST_SPLITS:
        for kind in crepe.SYST_TYPES:
            rows = samples[samples["category"] == f"{split}_{kind}"]
            ranks, scores, gap = reference_file(tiny, vg, data / crepe.syst_file(split, "cc12m"),
                                                f"valid_hard_negs_{kind}")
            assert gap > 1e-4
            assert [[p] + list(n) for p, n in zip(rows["score_positive"], rows["scores_negative"])] == [
                pytest.approx(s, abs=1e-5) for s in scores]
            assert rows["correct"].tolist() == [r == 0 for r in ranks]
            assert metrics[f"{split}_{kind}"] == pytest.approx(float(np.mean(np.array(ranks) < 1)) * 100)
            assert set(rows["compo"]) == {"systematicity"} and set(rows["split"]) == {split}
    # a row whose valid comp foils are none: the caption alone, rank 0 as the authors' argsort gives it: right
    alone = samples[(samples["category"] == "seen_compounds_comp") & (samples["sample_id"] == "1")].iloc[0]
    assert alone["correct"] and alone["negative_caption"] is None and np.isnan(alone["score_negative"])
    assert list(alone["negative_captions"]) == [] and details["seen_compounds_comp"]["retrieval_set_sizes"] == {
        "1": 1, "3": 1}
    # both kinds in one spec: productivity first, then systematicity
    both, _, _ = crepe.evaluate(*tiny, {**spec, "compo_types": ["productivity", "systematicity"],
                                        "complexities": [5], "hard_neg_types": ["negate"]}, batch_size=8)
    assert list(both) == ["negate_5"] + categories + ["negate", "avg"]
    assert both["negate"] == both["negate_5"] == both["avg"]


# ---------------------------------------------------------------------------------------------------------------
# Known verdicts, by hand


def solid_jpeg(path, width, colours):
    """Vertical bands of `colours` (16 px each, on JPEG's 8 px blocks, no chroma subsampling): colours stay colours."""
    image = Image.new("RGB", (width, 16))
    for k, colour in enumerate(colours):
        image.paste(COLOURS[colour], (16 * k, 0, 16 * (k + 1), 16))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=100, subsampling=0)


LEFT, RIGHT = (0, 0, 16, 16), (16, 0, 16, 16)
# (image id, region, caption, foils, model right, Shorter right). The colour model scores a text by the colour words
# it names: the model's verdicts, and `blind.Shorter`'s (fewer words win), are worked out by hand.
HAND = {
    "atom_4": [(10, LEFT, "a red kite", ["a blue kite in the sky", "a green kite in the sky"], True, True),
               # the crop is blue: the blue foil wins (the whole image, half red and half blue, would tie them)
               (10, RIGHT, "a red kite", ["a blue kite up high", "a green kite up high"], False, True),
               # a foil naming the same colours ties the caption: the tie goes to the caption
               (20, LEFT, "a green kite flying", ["a green box"], True, False),
               # (JPEG keeps a solid colour within a unit or two: green decodes as (0, 255, 1), so a blue foil would
               # edge out a red caption on it by 1/255; no verdict here rests on such a margin)
               (20, LEFT, "a red kite", ["a green kite high up"], False, True)],
    "atom_5": [(30, LEFT, "a blue kite", ["a red kite over the sea"], True, True),
               (30, LEFT, "a red kite over the sea", ["a blue kite"], False, False),
               (10, LEFT, "a blue kite over the sea", ["a red kite", "a red kite"], False, False)],
    "swap_4": [(10, RIGHT, "a blue kite", ["a kite that is blue"], True, True)],
    "swap_5": [(20, LEFT, "a green kite", ["a kite"], True, False)],
    "negate_4": [(10, LEFT, "a red kite", ["a kite that is not red"], True, True)],
    "negate_5": [(20, LEFT, "a green kite", ["a red kite in the sky", "a blue kite in the sky"], True, True)],
}


def write_hand(root):
    solid_jpeg(root / "vg" / "VG_100K" / "10.jpg", 32, ["red", "blue"])
    solid_jpeg(root / "vg" / "VG_100K_2" / "20.jpg", 16, ["green"])
    solid_jpeg(root / "vg" / "30.jpg", 16, ["blue"])  # a flat copy, looked for after the authors' two folders
    for category, rows in HAND.items():
        kind, complexity = category.split("_")
        write_csv(root / "data" / crepe.prod_file(kind, int(complexity)), [
            {"image_id": i, "x": x, "y": y, "width": w, "height": h, "caption": caption, "hard_negs": foils}
            for i, (x, y, w, h), caption, foils, _, _ in rows])


def test_known_verdicts_by_hand_and_the_region_is_what_is_scored(tmp_path):
    write_hand(tmp_path)
    spec = {"data": "data", "image_dir": "vg", "complexities": [4, 5]}
    metrics, details, samples = crepe.evaluate(ColourModel(), colour_preprocess, colour_tokenizer, spec,
                                               str(tmp_path), batch_size=3)
    assert samples["correct"].tolist() == [r[4] for rows in HAND.values() for r in rows]
    assert metrics == pytest.approx({"atom_4": 50.0, "atom_5": 100 / 3, "swap_4": 100.0, "swap_5": 100.0,
                                     "negate_4": 100.0, "negate_5": 100.0, "atom": 300 / 7, "swap": 100.0,
                                     "negate": 100.0, "avg": (300 / 7 + 200) / 3})
    assert list(metrics) == ["atom_4", "atom_5", "swap_4", "swap_5", "negate_4", "negate_5", "atom", "swap",
                             "negate", "avg"]
    # ranks: atom_4's second and fourth rows have one foil above (a tie does not count), atom_5's last two
    assert details["atom_4"]["mean_rank"] == 1.5 and details["atom_4"]["median_rank"] == 1.0
    assert details["atom_5"]["R@1"] == pytest.approx(100 / 3) and details["atom_5"]["R@3"] == 100.0
    assert details["atom_5"]["mean_rank"] == pytest.approx((1 + 2 + 3) / 3)
    atom_4 = samples[samples["category"] == "atom_4"]
    assert atom_4["negative_caption"].tolist() == ["a blue kite in the sky", "a blue kite up high", "a green box",
                                                   "a green kite high up"]
    assert atom_4["score_positive"].tolist() == pytest.approx([1, 0, 1, 0], abs=0.02)
    # two equal foils: the first of them is the one shown
    assert samples.iloc[6]["negative_caption"] == "a red kite" and samples.iloc[6]["scores_negative"][0] == \
        samples.iloc[6]["scores_negative"][1]
    assert samples["image"].tolist()[:7] == ["VG_100K/10.jpg"] * 2 + ["VG_100K_2/20.jpg"] * 2 + ["30.jpg"] * 2 + [
        "VG_100K/10.jpg"]
    assert crepe.crop((str(tmp_path / "vg" / "VG_100K" / "10.jpg"), 16, 0, 16, 16)).size == (16, 16)


def test_the_text_only_scorers_read_the_table(tmp_path):
    """`blind.score_items` (what tripletclip.blind uses without a module's own `score_blind`) and the module's
    `score_blind` on the hand table: `Shorter` prefers the text of fewer words, no tie here."""
    write_hand(tmp_path)
    _, _, samples = crepe.evaluate(ColourModel(), colour_preprocess, colour_tokenizer,
                                   {"data": "data", "image_dir": "vg", "complexities": [4, 5]}, str(tmp_path))
    for score in (blind.score_items, crepe.score_blind):
        table = score(samples, blind.Shorter(), "blind-shorter")
        assert table["correct"].tolist() == [r[5] for rows in HAND.values() for r in rows]
        assert table["score_positive"].tolist()[:2] == [-3.0, -3.0]
        assert table["scores_negative"].tolist()[0] == [-6.0, -6.0]
        assert crepe.metrics_from_samples(table) == pytest.approx({
            "atom_4": 75.0, "atom_5": 100 / 3, "swap_4": 100.0, "swap_5": 0.0, "negate_4": 100.0, "negate_5": 100.0,
            "atom": 400 / 7, "swap": 50.0, "negate": 100.0, "avg": (400 / 7 + 150) / 3})
        assert table[["category", "sample_id", "caption", "image", "x"]].equals(
            samples[["category", "sample_id", "caption", "image", "x"]])
    # a row without foils (systematicity's empty lists) stays right under `score_blind`, in its place
    items = samples.iloc[:3].copy()
    items.at[1, "negative_captions"], items.at[1, "scores_negative"] = [], []
    table = crepe.score_blind(items, blind.Shorter(), "blind-shorter")
    assert table["correct"].tolist() == [True, True, False] and table.index.tolist() == [0, 1, 2]
    assert table["score_positive"].tolist() == [-3.0, -3.0, -4.0]


# ---------------------------------------------------------------------------------------------------------------
# Errors that say what was expected


def test_crepe_says_what_layout_it_expected(tmp_path, tiny):
    data, vg = write_crepe(tmp_path)

    def run(**spec):
        return crepe.evaluate(*tiny, {"data": "data", "image_dir": "vg", "complexities": [4, 5], **spec},
                              str(tmp_path))

    with pytest.raises(ValueError, match="the spec names no `data` folder \\(expected the authors' data/ folder"):
        run(data=None)
    with pytest.raises(ValueError, match="names no `image_dir` \\(expected Visual Genome's \\{image_id\\}.jpg in "
                                         "VG_100K/ or VG_100K_2/"):
        run(image_dir=None)
    with pytest.raises(FileNotFoundError, match="nowhere is not a folder; expected the authors' data/ folder with its "
                                                "two zips unpacked: prod_hard_negatives/"):
        run(data="nowhere")
    # the default complexities are the authors' nine: every missing file named
    with pytest.raises(FileNotFoundError, match="lacks 21 of the 27 files asked for: prod_hard_negatives/atom/"
                                                "prod_vg_hard_negs_atom_complexity_6.csv, prod_hard_negatives/atom/"
                                                "prod_vg_hard_negs_atom_complexity_7.csv, .*; expected the authors'"):
        run(complexities=None)
    with pytest.raises(FileNotFoundError, match="looks like one of the unzipped folders: set `data` to the folder "
                                                "holding it"):
        run(data="data/prod_hard_negatives")
    with pytest.raises(FileNotFoundError, match="syst_vg_hard_negs_seen_compounds_in_laion.csv, "):
        run(compo_types=["systematicity"], train_dataset="laion")
    with pytest.raises(ValueError, match="`train_dataset` 'cc3m' is none of cc12m, yfcc, laion"):
        run(compo_types=["systematicity"], train_dataset="cc3m")
    with pytest.raises(ValueError, match="`hard_neg_types` \\['atom', 'comp'\\] must be a non-empty list of some of "
                                         "atom, swap, negate \\('comp' is not\\)"):
        run(hard_neg_types=["atom", "comp"])
    with pytest.raises(ValueError, match="`complexities` \\[3\\] must be a non-empty list of some of 4, 5, 6"):
        run(complexities=[3])
    # a missing image, before anything is encoded
    (vg / "VG_100K_2" / "3.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="CREPE images \\(Visual Genome's \\{image_id\\}.jpg in VG_100K/ or "
                                                "VG_100K_2/ \\(or flat\\), in .*vg\\): 1 of 3 images are missing, "
                                                "e.g. ids 3"):
        run()
    # a file not in the authors' format: a missing column, a foil list that is not one, an empty region
    csv = data / crepe.prod_file("swap", 5)
    frame = pd.read_csv(csv)
    frame.drop(columns=["width"]).to_csv(csv, index=False)
    with pytest.raises(ValueError, match="prod_vg_hard_negs_swap_complexity_5.csv lacks the column\\(s\\) "
                                         "\\['width'\\]; expected the authors' columns image_id, x, y, width, height, "
                                         "caption, hard_negs"):
        run(hard_neg_types=["swap"])
    frame.assign(hard_negs=["['a', 'b']", "a dog on a mat", "['c']"]).to_csv(csv, index=False)
    with pytest.raises(ValueError, match="row 1's hard_negs is not a Python list of captions, as the authors' "
                                         "ast.literal_eval reads it: 'a dog on a mat'"):
        run(hard_neg_types=["swap"])
    frame.assign(width=[4, 0, 4]).to_csv(csv, index=False)
    with pytest.raises(ValueError, match="row 1's region \\(x, y, width, height\\) = .* is not four numbers with a "
                                         "positive width and height"):
        run(hard_neg_types=["swap"])
    frame.assign(image_id=["1", "VG_1", "2"]).to_csv(csv, index=False)
    with pytest.raises(ValueError, match="row 1's image_id 'VG_1' is not a Visual Genome image id"):
        run(hard_neg_types=["swap"])
    with pytest.raises(ValueError, match="the table's category 'atom' is not one of the authors' retrieval sets"):
        crepe.metrics_from_samples(pd.DataFrame({"category": ["atom"], "correct": [True], "compo": ["productivity"],
                                                 "negative_type": ["atom"]}))
