"""EqBen in the authors' layouts (Wangt-CN/EqBen `src/eqben/eqben_utils.py`): one image folder holding a folder per
sub-dataset (eqbenag/, eqbenyoucook2/, ...; `EqBenALL` line 17), and annotation JSONs in the shapes the readers take:
a list of {image0, caption0, image1, caption1} (Kubric, SD, the 10% subset), {video: [those]} (YouCook2, GEBC),
{video: {subject: [those, captions as lists]}} (AG), and the randomized list of {image, caption} regrouped with
private_info / private_random_idx (`evaluate_eqben_locally.py`). The file names inside a sub-dataset's folder are
made up here: the repository does not give them. YouCook2 frames are .npy arrays in BGR order
(`process_img_npy`, eqben_eval_CLIP.py line 52). Images are made in the test; scores are checked against a
per-sample reference of the authors' lines (`eqben_acc.cal_wino_score`) computed here from open_clip features of a
tiny random model, one item at a time."""

import io as stdio
import json

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.colour_model import COLOURS, ColourModel
from helpers.colour_model import preprocess as colour_preprocess
from helpers.colour_model import tokenizer as colour_tokenizer
from PIL import Image

from tripletclip import blind, io
from tripletclip.evals import eqben

RGB = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 180, 60), "yellow": (240, 220, 40),
       "white": (250, 250, 250), "black": (10, 10, 10)}


def two_colour(first, second, size=16, split="horizontal"):
    """`first` over `second` (horizontal), or left of it (vertical)."""
    image = Image.new("RGB", (size, size), RGB[second])
    image.paste(RGB[first], (0, 0, size, size // 2) if split == "horizontal" else (0, 0, size // 2, size))
    return image


def save(image_dir, relative, image):
    """An image file, or for .npy the authors' YouCook2 frame: the RGB array in BGR order."""
    path = image_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, np.asarray(image)[:, :, ::-1].copy())
    else:
        image.save(path)


# (caption0, caption1, (top, bottom) colours of image0)
KUBRIC = [("a red ball left of a blue cube", "a blue ball left of a red cube", ("red", "blue")),
          ("a green cone above a white box", "a white cone above a green box", ("green", "white"))]
SD = [("a yellow car beside a black bike", "a black car beside a yellow bike", ("yellow", "black"))]
YOUCOOK2 = {"vid_a": [("pour the red sauce", "stir the blue sauce", ("red", "blue")),
                      ("add the green herbs", "add the white salt", ("green", "white"))],
            "vid_b": [("slice the yellow pepper", "slice the black olive", ("yellow", "black"))]}
AG = {"clip1.mp4": {"person_1": [(["a person holding a red cup", "someone holds a cup"],
                                  ["a person drinking from a blue cup"], ("red", "blue"))]},
      "clip2.mp4": {"person_1": [(["a person opens a white door"], ["a person closes a black door"],
                                  ("white", "black"))],
                    "person_2": [(["a person sits on a green chair"], ["a person stands by a yellow chair"],
                                  ("green", "yellow"))]}}


def entry(folder, name, caption0, caption1, colours, ext="png"):
    """A Winoground-style entry and its two images: image1 has the colours exchanged and split the other way (a
    random model tells such images apart enough to get some verdicts right)."""
    first, second = colours
    return ({"image0": f"{folder}/{name}_0.{ext}", "caption0": caption0, "image1": f"{folder}/{name}_1.{ext}",
             "caption1": caption1}, {0: two_colour(first, second), 1: two_colour(second, first, split="vertical")})


def write_eqben(root):
    """ann/{kubric_loc,sd,youcook2,ag}.json and images/{eqbenkubric_loc,eqbensd,eqbenyoucook2,eqbenag}/...; returns
    the expected samples in the reader's order (files sorted by name): (category, sample_id, caption0, caption1,
    image0, image1)."""
    images, ann = root / "images", root / "ann"
    ann.mkdir(parents=True)
    docs, expected = {}, {}

    def add(e, pictures):
        for k in (0, 1):
            save(images, e[f"image{k}"], pictures[k])
        return e

    docs["kubric_loc"] = [add(*entry("eqbenkubric_loc", f"scene{i}", *e)) for i, e in enumerate(KUBRIC)]
    expected["kubric_loc"] = [("eqbenkubric_loc", f"kubric_loc/{i}") for i in range(len(KUBRIC))]
    docs["sd"] = [add(*entry("eqbensd", f"img{i}", *e)) for i, e in enumerate(SD)]
    expected["sd"] = [("eqbensd", "sd/0")]
    docs["youcook2"] = {v: [add(*entry(f"eqbenyoucook2/{v}", f"frame{k}", *e, ext="npy")) for k, e in enumerate(es)]
                        for v, es in YOUCOOK2.items()}
    expected["youcook2"] = [("eqbenyoucook2", f"youcook2/{v}/{k}") for v, es in YOUCOOK2.items()
                            for k in range(len(es))]
    docs["ag"] = {v: {s: [add(*entry(f"eqbenag/{v}/{s}", f"f{k}", *e)) for k, e in enumerate(es)]
                      for s, es in subjects.items()} for v, subjects in AG.items()}
    expected["ag"] = [("eqbenag", f"ag/{v}/{s}/{k}") for v, subjects in AG.items() for s, es in subjects.items()
                      for k in range(len(es))]
    rows = []
    for name in sorted(docs):
        (ann / f"{name}.json").write_text(json.dumps(docs[name], indent=2), encoding="utf-8")
        doc = docs[name]
        flat = (doc if isinstance(doc, list) else [e for es in doc.values() for e in es] if name == "youcook2"
                else [e for subjects in doc.values() for es in subjects.values() for e in es])
        for (category, sample_id), e in zip(expected[name], flat):
            first = [c[0] if isinstance(c, list) else c for c in (e["caption0"], e["caption1"])]  # AG: the first
            rows.append((category, sample_id, *first, e["image0"], e["image1"]))
    return rows


def authors_image(path):
    # eqben_eval_CLIP.py: process_img_npy (line 52) for .npy frames, process_img_pixel (line 47) otherwise
    if path.suffix == ".npy":
        return Image.fromarray(np.load(path)[:, :, [2, 1, 0]])
    return Image.open(path).convert("RGB")


def reference(tiny, image_dir, rows):
    """The authors' lines one sample at a time: features L2-normalized, s = their dot product (eqben_eval_CLIP.py
    lines 101-114), then eqben_acc.cal_wino_score's comparisons (lines 6-13). [(s00, s01, s10, s11, text, image,
    group)] with s_jk = s(caption_j, image_k), and the smallest margin of any comparison."""
    model, preprocess, tokenizer = tiny
    out, margins = [], []
    with torch.no_grad():
        for _, _, caption0, caption1, image0, image1 in rows:
            imgs = [model.encode_image(preprocess(authors_image(image_dir / p))[None]) for p in (image0, image1)]
            txts = [model.encode_text(tokenizer([c])) for c in (caption0, caption1)]
            imgs = [x / x.norm(dim=-1, keepdim=True) for x in imgs]
            txts = [x / x.norm(dim=-1, keepdim=True) for x in txts]
            r = {f"c{j}_i{k}": (txts[j] * imgs[k]).sum(dim=-1) for j in (0, 1) for k in (0, 1)}
            text = torch.logical_and(r["c0_i0"] > r["c1_i0"], r["c1_i1"] > r["c0_i1"])
            image = torch.logical_and(r["c0_i0"] > r["c0_i1"], r["c1_i1"] > r["c1_i0"])
            group = torch.logical_and(image, text)
            out.append((*(float(r[k]) for k in ("c0_i0", "c0_i1", "c1_i0", "c1_i1")), bool(text), bool(image),
                        bool(group)))
            margins += [abs(float(r["c0_i0"] - r["c1_i0"])), abs(float(r["c1_i1"] - r["c0_i1"])),
                        abs(float(r["c0_i0"] - r["c0_i1"])), abs(float(r["c1_i1"] - r["c1_i0"]))]
    return out, min(margins)


def test_scores_are_the_authors_per_sample(tmp_path, tiny):
    rows = write_eqben(tmp_path / "eqben")
    metrics, details, samples = eqben.evaluate(*tiny, {"data": "eqben/ann", "image_dir": "eqben/images"},
                                               str(tmp_path), batch_size=4)
    ref, margin = reference(tiny, tmp_path / "eqben" / "images", rows)
    assert margin > 1e-4  # no comparison so close that rounding could flip it
    assert list(samples.columns) == list(eqben.COLUMNS)
    assert samples[["category", "sample_id", "caption_0", "caption_1", "image_0", "image_1"]].values.tolist() == [
        list(r) for r in rows]
    got = samples[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist()
    assert got == [pytest.approx(r[:4], abs=1e-6) for r in ref]
    assert samples[["text_correct", "image_correct", "group_correct"]].values.tolist() == [list(r[4:]) for r in ref]
    assert samples["correct"].equals(samples["group_correct"])
    assert samples["image_correct"].any()  # not every verdict wrong: test_known_verdicts_by_hand has more right ones

    def share(values):
        return pytest.approx(100 * sum(values) / len(values))

    subsets = sorted({r[0] for r in rows})
    expected = {k: share([r[4 + i] for r in ref]) for i, k in enumerate(("text", "image", "group"))}
    per = {s: {k: 100 * sum(x[4 + i] for x, r in zip(ref, rows) if r[0] == s) / sum(r[0] == s for r in rows)
               for i, k in enumerate(("text", "image", "group"))} for s in subsets}
    expected.update({f"avg_{k}": pytest.approx(sum(per[s][k] for s in subsets) / len(subsets))
                     for k in ("text", "image", "group")})
    for s in subsets:
        expected.update({f"{s}_{k}": pytest.approx(v) for k, v in per[s].items()})
    assert metrics == expected and list(metrics)[:6] == ["text", "image", "group", "avg_text", "avg_image",
                                                         "avg_group"]
    assert eqben.metrics_from_samples(samples) == metrics  # the same floats
    assert details["examples"] == 9 and details["files"] == ["ag.json", "kubric_loc.json", "sd.json",
                                                              "youcook2.json"]
    assert {s: (d["examples"], d["full_size"]) for s, d in details["per_subset"].items()} == {
        "eqbenag": (3, 195872), "eqbenkubric_loc": (2, 2000), "eqbensd": (1, 1513), "eqbenyoucook2": (3, 45849)}
    # one file read alone: no file-stem prefix; the same scores for its samples
    _, _, alone = eqben.evaluate(*tiny, {"data": "eqben/ann/youcook2.json", "image_dir": "eqben/images"},
                                 str(tmp_path))
    assert alone["sample_id"].tolist() == ["vid_a/0", "vid_a/1", "vid_b/0"]
    part = samples[samples["category"] == "eqbenyoucook2"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.drop(columns="sample_id"), part.drop(columns="sample_id"), check_exact=False,
                                  atol=1e-5)
    buffer = stdio.BytesIO()
    samples.to_parquet(buffer, index=False)
    assert pd.read_parquet(stdio.BytesIO(buffer.getvalue()))["sample_id"].tolist() == [r[1] for r in rows]


def write_pictures(image_dir, names):
    for name, colour in names.items():
        array = np.zeros((4, 4, 3), np.uint8) + np.array(COLOURS[colour], np.uint8)
        save(image_dir, name, Image.fromarray(array))


def test_known_verdicts_by_hand(tmp_path):
    """The colour model (tests/helpers/colour_model.py): an image is its mean colour, a caption its colour-word
    counts; solid images are lossless, so a tie is a tie to the bit. The 10% subset's layout: one list, paths under
    each sub-dataset's folder or not (then "eqben"); a .npy frame is read BGR -> RGB; the light set's .jpg (README
    line 177) stands in for a .png the annotation names. Its JPEG of a solid colour is not lossless: red is kept
    red-dominant, enough for these verdicts."""
    images = tmp_path / "image_subset"
    write_pictures(images, {"eqbensd/r.png": "red", "eqbensd/b.png": "blue", "eqbenyoucook2/v/r.npy": "red",
                            "eqbenyoucook2/v/b.npy": "blue", "misc/r.png": "red", "misc/b.png": "blue"})
    Image.new("RGB", (4, 4), COLOURS["red"]).save(images / "eqbensd" / "light_r.jpg", quality=100)
    rows = [("red", "blue", "eqbensd/r.png", "eqbensd/b.png"),  # s = 1, 0, 0, 1: all right
            # s(c0, i0) = 1 > s(c1, i0) = a, s(c1, i1) = a > s(c0, i1) = 0: text right; s(c1, i0) = s(c1, i1) = a:
            # the image score ties, wrong
            ("red", "red blue", "eqbenyoucook2/v/r.npy", "eqbenyoucook2/v/b.npy"),
            ("blue", "red", "eqbenyoucook2/v/r.npy", "eqbenyoucook2/v/b.npy"),  # s = 0, 1, 1, 0: all wrong
            ("red blue", "blue red", "misc/r.png", "misc/b.png"),  # equal counts: every comparison ties, all wrong
            ("red", "blue", "eqbensd/light_r.png", "eqbensd/b.png")]  # the .jpg read for the missing .png: right
    io.write_json(tmp_path / "eqben_subset_10percent_final.json",
                  [{"image0": i0, "caption0": c0, "image1": i1, "caption1": c1} for c0, c1, i0, i1 in rows])
    metrics, details, samples = eqben.evaluate(ColourModel(), colour_preprocess, colour_tokenizer,
                                               {"data": "eqben_subset_10percent_final.json",
                                                "image_dir": "image_subset"}, str(tmp_path), batch_size=3)
    assert samples[["text_correct", "image_correct", "group_correct"]].values.tolist() == [
        [True, True, True], [True, False, False], [False, False, False], [False, False, False], [True, True, True]]
    assert samples["c0_i0"].tolist()[:3] == [1.0, 1.0, 0.0]  # the frame red after BGR -> RGB, as the authors read
    assert samples["category"].tolist() == ["eqbensd", "eqbenyoucook2", "eqbenyoucook2", "eqben", "eqbensd"]
    assert samples["sample_id"].tolist() == ["0", "1", "2", "3", "4"]
    assert samples["image_0"].tolist()[4] == "eqbensd/light_r.jpg"
    # float32 means (encode.mean32): 3/5 is 60.000002..., hence approx
    assert metrics == pytest.approx({"text": 60.0, "image": 40.0, "group": 40.0, "avg_text": 50.0,
                                     "avg_image": 100 / 3, "avg_group": 100 / 3,
                                     "eqben_text": 0.0, "eqben_image": 0.0, "eqben_group": 0.0,
                                     "eqbensd_text": 100.0, "eqbensd_image": 100.0, "eqbensd_group": 100.0,
                                     "eqbenyoucook2_text": 50.0, "eqbenyoucook2_image": 0.0,
                                     "eqbenyoucook2_group": 0.0})
    assert details["per_subset"]["eqben"]["full_size"] is None
    # the spec's subset names the category of every sample of a file; Winoground's spelling is read too
    io.write_json(tmp_path / "wino.json", [{"image_0": i0, "caption_0": c0, "image_1": i1, "caption_1": c1, "id": 7}
                                           for c0, c1, i0, i1 in rows[:1]])
    _, _, one = eqben.evaluate(ColourModel(), colour_preprocess, colour_tokenizer,
                               {"data": "wino.json", "image_dir": "image_subset", "subset": "eqbensd"}, str(tmp_path))
    assert one[["category", "sample_id", "group_correct"]].values.tolist() == [["eqbensd", "7", True]]


def test_the_randomized_annotation_is_regrouped_as_the_server_does(tmp_path):
    """ann_json_finegrained_random.json with src_file/private_random_idx.json and private_info.json: entry j of the
    randomized list is entry p[j] of the original order (evaluate_eqben_locally.py lines 26-27), whose info names
    its dataset, its place c{j}i{k} and its sample."""
    images = tmp_path / "images"
    write_pictures(images, {"eqbensd/r.png": "red", "eqbensd/b.png": "blue", "eqbenag/v/s/r.png": "red",
                            "eqbenag/v/s/b.png": "blue"})
    samples = [("eqbensd", "red", "red blue", "eqbensd/r.png", "eqbensd/b.png"),
               ("eqbensd", "red", "blue", "eqbensd/r.png", "eqbensd/b.png"),
               ("eqbenag", "blue", "red", "eqbenag/v/s/r.png", "eqbenag/v/s/b.png")]
    original, info = [], []
    for n, (dataset, c0, c1, i0, i1) in enumerate(samples):  # the original order: four pairs per sample
        for name, caption, image in (("c0i0", c0, i0), ("c0i1", c0, i1), ("c1i0", c1, i0), ("c1i1", c1, i1)):
            original.append({"image": image, "caption": caption})
            info.append({"dataset": dataset, "name": name, "sample_cnt": n})
    p = [int(i) for i in np.random.default_rng(0).permutation(len(original))]
    io.write_json(tmp_path / "ann_json_finegrained_random.json", [original[i] for i in p])
    io.write_json(tmp_path / "private_info.json", info)
    io.write_json(tmp_path / "private_random_idx.json", p)
    spec = {"data": "ann_json_finegrained_random.json", "image_dir": "images", "private_info": "private_info.json",
            "private_random_idx": "private_random_idx.json"}
    metrics, _, table = eqben.evaluate(ColourModel(), colour_preprocess, colour_tokenizer, spec, str(tmp_path))
    assert table[["category", "sample_id", "caption_0", "caption_1", "image_0", "image_1"]].values.tolist() == [
        [d, str(n), c0, c1, i0, i1] for n, (d, c0, c1, i0, i1) in enumerate(samples)]
    assert table[["text_correct", "image_correct", "group_correct"]].values.tolist() == [
        [True, False, False], [True, True, True], [False, False, False]]
    assert metrics["eqbensd_group"] == 50.0 and metrics["eqbenag_text"] == 0.0
    assert metrics["group"] == pytest.approx(100 / 3)
    with pytest.raises(ValueError, match="randomized annotation .* cannot be grouped into samples without the "
                                         "authors' src_file/private_info.json and src_file/private_random_idx.json"):
        eqben.load(str(tmp_path), {"data": spec["data"], "image_dir": "images"})
    io.write_json(tmp_path / "private_random_idx.json", p[:-1])
    with pytest.raises(ValueError, match="12 entries, private_info 12, private_random_idx 11"):
        eqben.load(str(tmp_path), spec)
    io.write_json(tmp_path / "private_random_idx.json", p)
    info[5]["name"] = "c0i0"  # sample 1 now has two c0i0 entries and no c0i1
    io.write_json(tmp_path / "private_info.json", info)
    with pytest.raises(ValueError, match="sample 1 has two c0i0 entries|sample 1's caption_0|sample 1's image_0"):
        eqben.load(str(tmp_path), spec)


def test_a_blind_scorer_gets_every_sample_wrong():
    items = pd.DataFrame([{"category": "eqbensd", "sample_id": str(i), "correct": True, "c0_i0": 0.3,
                           "c0_i1": 0.1, "c1_i0": 0.1, "c1_i1": 0.3, "text_correct": True, "image_correct": True,
                           "group_correct": True, "caption_0": c0, "caption_1": c1,
                           "image_0": f"eqbensd/{i}_0.png", "image_1": f"eqbensd/{i}_1.png"}
                          for i, (c0, c1) in enumerate([("a dog on the left", "a dog on the right"),
                                                        ("two cups", "three small cups")])])
    scored = eqben.score_blind(items, blind.Shorter(), "blind-shorter")
    assert list(scored.columns) == list(eqben.COLUMNS)
    assert scored[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [[-5, -5, -5, -5], [-2, -2, -3, -3]]
    assert not scored[["correct", "text_correct", "image_correct", "group_correct"]].values.any()
    assert eqben.metrics_from_samples(scored) == {"text": 0.0, "image": 0.0, "group": 0.0, "avg_text": 0.0,
                                                  "avg_image": 0.0, "avg_group": 0.0, "eqbensd_text": 0.0,
                                                  "eqbensd_image": 0.0, "eqbensd_group": 0.0}
    assert scored[["caption_0", "image_1", "sample_id"]].equals(items[["caption_0", "image_1", "sample_id"]])


def test_eqben_says_what_layout_it_expected(tmp_path):
    images = tmp_path / "images"
    write_pictures(images, {"eqbensd/r.png": "red", "eqbensd/b.png": "blue"})
    good = [{"image0": "eqbensd/r.png", "caption0": "red", "image1": "eqbensd/b.png", "caption1": "blue"}]
    path = tmp_path / "ann.json"

    def run(doc=None, **spec):
        if doc is not None:
            io.write_json(path, doc)
        return eqben.load(str(tmp_path), {"data": "ann.json", "image_dir": "images", **spec})

    with pytest.raises(FileNotFoundError, match="EqBen data: expected an EqBen annotation file .* at .*ann.json, "
                                                "found nothing"):
        run()
    with pytest.raises(ValueError, match="the spec names no `image_dir`"):
        run(good, image_dir=None)
    with pytest.raises(ValueError, match="the spec names no `data`"):
        run(data=None)
    with pytest.raises(ValueError, match="subset 'eqbenkubric' is none of eqbenag, eqbenyoucook2"):
        run(subset="eqbenkubric")
    with pytest.raises(FileNotFoundError, match="`image_dir` .*nowhere is not a folder"):
        run(image_dir="nowhere")
    with pytest.raises(FileNotFoundError, match="holds no .json annotation; .* found \\['eqbensd'\\]"):
        run(data="images")
    with pytest.raises(ValueError, match="expected an EqBen annotation file .*; found int"):
        run(3)
    with pytest.raises(ValueError, match="sample 0 has \\['caption0', 'image0'\\]; expected the keys \\['image0', "
                                         "'caption0', 'image1', 'caption1'\\]"):
        run([{"image0": "eqbensd/r.png", "caption0": "red"}])
    with pytest.raises(ValueError, match="sample vid/0, caption1: expected a caption .* found \\[\\]"):
        run({"vid": [{**good[0], "caption1": []}]})
    with pytest.raises(ValueError, match="sample ids are not unique within a category, e.g. '4' is given twice in "
                                         "eqbensd"):
        run([{**good[0], "id": 4}, {**good[0], "id": 4}])
    with pytest.raises(ValueError, match="no sample"):
        run([])
    with pytest.raises(FileNotFoundError, match="EqBen images in .*images: 1 of 2 images are missing, e.g. "
                                                ".*images/eqbensd/g.png"):
        run([{**good[0], "image1": "eqbensd/g.png"}])
    assert run(good)[0][0]["category"] == "eqbensd"
    np.save(images / "bad.npy", np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="expected a uint8 \\(H, W, 3\\) BGR array, .* found float32 \\(4, 4\\)"):
        eqben.open_image(images / "bad.npy")
