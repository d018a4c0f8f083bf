"""ColorSwap in the authors' layout (Top34051/colorswap README, "Usage": data/{train,test}.json, a JSON list of {id,
caption_1, caption_2, image_1: "images/img_{id}_1.png", image_2, image_source, caption_source}, and data/images/),
written tiny here with PNGs made here; scores against a per-example reference of Winoground's definitions computed
in this file from open_clip features of a tiny random model, one item at a time."""

import json
import re

import pandas as pd
import pytest
import torch
from helpers.colour_model import COLOURS, ColourModel
from helpers.colour_model import preprocess as colour_preprocess
from helpers.colour_model import tokenizer as colour_tokenizer
from PIL import Image

from tripletclip import blind, io, shapes
from tripletclip.evals import colorswap

WORLD = {"heldout_combos": 6, "image_size": 32, "hollow_rate": 0.2, "third_object_rate": 0.3}
RGB = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 180, 60), "yellow": (240, 220, 40),
       "white": (250, 250, 250), "black": (10, 10, 10)}
# (id, caption_1, caption_2, (top, bottom) colours of image_1, image_source): image_2 has the two colours exchanged
EXAMPLES = [
    (0, "a red umbrella over a blue dress", "a blue umbrella over a red dress", ("red", "blue"), "midjourney"),
    (3, "a green car on a yellow road", "a yellow car on a green road", ("green", "yellow"), "midjourney"),
    (7, "a white cat on a black sofa", "a black cat on a white sofa", ("white", "black"), "dalle3"),
    (12, "a yellow sign above a red door", "a red sign above a yellow door", ("yellow", "red"), "dalle3"),
    (15, "a blue ball in a green box", "a green ball in a blue box", ("blue", "green"), "midjourney"),
    (21, "a black bird on a white fence", "a white bird on a black fence", ("black", "white"), "sdxl"),
]


def two_colour_png(path, top, bottom):
    image = Image.new("RGB", (16, 16), RGB[bottom])
    image.paste(RGB[top], (0, 0, 16, 8))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")


def write_colorswap(data, examples=EXAMPLES, split="test"):
    """The authors' data/ folder: {split}.json and images/img_{id}_{k}.png."""
    entries = []
    for id_, caption_1, caption_2, (top, bottom), source in examples:
        two_colour_png(data / "images" / f"img_{id_}_1.png", top, bottom)
        two_colour_png(data / "images" / f"img_{id_}_2.png", bottom, top)
        entries.append({"id": id_, "caption_1": caption_1, "caption_2": caption_2,
                        "image_1": f"images/img_{id_}_1.png", "image_2": f"images/img_{id_}_2.png",
                        "image_source": source, "caption_source": "human"})
    data.mkdir(parents=True, exist_ok=True)
    (data / f"{split}.json").write_text(json.dumps(entries, indent=4), encoding="utf-8")
    return entries


def reference(tiny, data, entries):
    """Winoground's scores (Thrush et al. 2022, §3) per example, caption_1 true of image_1 and caption_2 of image_2,
    each image and caption encoded on its own: [(s11, s12, s21, s22, text, image, group)], s_jk = s(caption_j,
    image_k), and the smallest margin of any comparison."""
    model, preprocess, tokenizer = tiny
    rows, margins = [], []
    with torch.no_grad():
        for e in entries:
            images = [model.encode_image(preprocess(Image.open(data / e[f"image_{k}"]).convert("RGB"))[None])
                      for k in (1, 2)]
            captions = [model.encode_text(tokenizer([e[f"caption_{j}"]])) for j in (1, 2)]
            images = [torch.nn.functional.normalize(x, dim=-1)[0] for x in images]
            captions = [torch.nn.functional.normalize(x, dim=-1)[0] for x in captions]
            s11, s12, s21, s22 = (float(captions[j] @ images[k]) for j, k in ((0, 0), (0, 1), (1, 0), (1, 1)))
            text = s11 > s21 and s22 > s12  # each image prefers its own caption
            image = s11 > s12 and s22 > s21  # each caption prefers its own image
            rows.append((s11, s12, s21, s22, text, image, text and image))
            margins += [abs(s11 - s21), abs(s22 - s12), abs(s11 - s12), abs(s22 - s21)]
    return rows, min(margins)


def test_scores_are_winogrounds_per_example(tmp_path, tiny):
    data = tmp_path / "colorswap" / "data"
    entries = write_colorswap(data)
    metrics, details, samples = colorswap.evaluate(*tiny, {"data": "colorswap/data"}, str(tmp_path), batch_size=4)
    rows, margin = reference(tiny, data, entries)
    assert margin > 1e-4  # no comparison so close that rounding could flip it
    assert list(samples.columns) == list(colorswap.COLUMNS)
    got = samples[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist()
    assert got == [pytest.approx(r[:4], abs=1e-5) for r in rows]
    verdicts = samples[["text_correct", "image_correct", "group_correct"]].values.tolist()
    assert verdicts == [list(r[4:]) for r in rows]
    assert samples["correct"].equals(samples["group_correct"])
    # random weights see the two images of a pair, and the two captions, nearly alike: every verdict is wrong here;
    # test_known_verdicts_by_hand has right ones
    # the table: image_source, the id, the captions and the image paths as the JSON gives them
    assert samples["category"].tolist() == [e[4] for e in EXAMPLES]
    assert samples["sample_id"].tolist() == [str(e[0]) for e in EXAMPLES]
    assert samples[["caption_0", "caption_1"]].values.tolist() == [[e[1], e[2]] for e in EXAMPLES]
    assert samples["image_1"].tolist() == [f"images/img_{e[0]}_2.png" for e in EXAMPLES]

    def share(values):
        return pytest.approx(100 * sum(values) / len(values))

    expected = {name: share([r[4 + k] for r in rows]) for k, name in enumerate(("text", "image", "group"))}
    for source in ("dalle3", "midjourney", "sdxl"):
        picked = [r for r, e in zip(rows, EXAMPLES) if e[4] == source]
        expected.update({f"{source}_{name}": share([r[4 + k] for r in picked])
                         for k, name in enumerate(("text", "image", "group"))})
    assert metrics == expected and list(metrics)[:3] == ["text", "image", "group"]
    assert colorswap.metrics_from_samples(samples) == metrics  # the same floats
    assert details == {"examples": 6, "split": "test", "per_source": {
        s: {k: metrics[f"{s}_{k}"] for k in ("text", "image", "group")} for s in ("dalle3", "midjourney", "sdxl")}}
    # the train split is read the same way; an absolute `data` as it is
    write_colorswap(data, EXAMPLES[:2], split="train")
    _, train_details, train = colorswap.evaluate(*tiny, {"data": str(data), "split": "train"}, "/elsewhere")
    assert train_details["examples"] == 2 and train["sample_id"].tolist() == ["0", "3"]
    pd.testing.assert_frame_equal(train, samples.iloc[:2], check_exact=False, atol=1e-5)


def test_known_verdicts_by_hand(tmp_path):
    """The colour model (tests/helpers/colour_model.py): an image is its mean colour, a caption its colour-word
    counts. Solid PNGs are lossless, so a tie is a tie to the bit."""
    data = tmp_path / "data"
    for name, colour in (("r", "red"), ("b", "blue")):
        (data / "images").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), COLOURS[colour]).save(data / "images" / f"{name}.png", format="PNG")
    rows = [("red", "blue", "r", "b"),  # s = 1, 0, 0, 1: text, image and group right
            # s(c1, i1) = 1 > s(c2, i1) = a and s(c2, i2) = a > s(c1, i2) = 0: text right; s(c2, i1) = s(c2, i2): the
            # image score ties, wrong
            ("red", "red blue", "r", "b"),
            ("blue", "red", "r", "b"),  # s = 0, 1, 1, 0: all wrong
            ("red blue", "blue red", "r", "b")]  # the swap: equal counts, every comparison a tie, all wrong
    io.write_json(data / "test.json", [{"id": i, "caption_1": c1, "caption_2": c2, "image_1": f"images/{i1}.png",
                                        "image_2": f"images/{i2}.png", "image_source": "midjourney",
                                        "caption_source": "human"} for i, (c1, c2, i1, i2) in enumerate(rows)])
    metrics, _, samples = colorswap.evaluate(ColourModel(), colour_preprocess, colour_tokenizer, {"data": "data"},
                                             str(tmp_path), batch_size=3)
    assert samples[["text_correct", "image_correct", "group_correct"]].values.tolist() == [
        [True, True, True], [True, False, False], [False, False, False], [False, False, False]]
    assert metrics == {"text": 50.0, "image": 25.0, "group": 25.0, "midjourney_text": 50.0,
                       "midjourney_image": 25.0, "midjourney_group": 25.0}


def test_a_blind_scorer_gets_every_example_wrong():
    items = pd.DataFrame([{"category": "midjourney", "sample_id": str(i), "correct": True, "c0_i0": 0.3,
                           "c0_i1": 0.1, "c1_i0": 0.1, "c1_i1": 0.3, "text_correct": True, "image_correct": True,
                           "group_correct": True, "caption_0": c0, "caption_1": c1,
                           "image_0": f"images/img_{i}_1.png", "image_1": f"images/img_{i}_2.png"}
                          for i, (c0, c1) in enumerate([("a red cup on a blue table", "a blue cup on a red table"),
                                                        ("a red cup", "a small blue cup")])])
    scored = colorswap.score_blind(items, blind.Shorter(), "blind-shorter")
    assert list(scored.columns) == list(colorswap.COLUMNS)
    assert scored[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [[-7, -7, -7, -7], [-3, -3, -4, -4]]
    assert not scored[["correct", "text_correct", "image_correct", "group_correct"]].values.any()
    assert colorswap.metrics_from_samples(scored) == {"text": 0.0, "image": 0.0, "group": 0.0,
                                                      "midjourney_text": 0.0, "midjourney_image": 0.0,
                                                      "midjourney_group": 0.0}
    assert scored[["caption_0", "image_1", "sample_id"]].equals(items[["caption_0", "image_1", "sample_id"]])


def test_colorswap_says_what_layout_it_expected(tmp_path, tiny):
    def run(**spec):
        return colorswap.evaluate(*tiny, {"data": "repo/data", **spec}, str(tmp_path))

    with pytest.raises(FileNotFoundError, match="ColorSwap data: expected the authors' data/ folder: "
                                                "\\{split\\}.json .* and images/ .* at .*repo/data, found nothing"):
        run()
    entries = write_colorswap(tmp_path / "repo" / "data")
    with pytest.raises(FileNotFoundError, match="repo holds no test.json; expected the authors' data/ folder.*"
                                                "found \\['data'\\]; .*repo/data/test.json exists: set `data` to"):
        run(data="repo")
    with pytest.raises(ValueError, match="split 'validation' is none of \\('test', 'train'\\)"):
        run(split="validation")
    with pytest.raises(ValueError, match="the spec names no `data`"):
        run(data=None)
    (tmp_path / "repo" / "data" / "images" / "img_7_2.png").unlink()
    with pytest.raises(FileNotFoundError, match="ColorSwap images in .*: 1 of 12 images are missing, e.g. "
                                                ".*repo/data/images/img_7_2.png"):
        run()
    path = tmp_path / "repo" / "data" / "test.json"
    io.write_json(path, {"examples": entries})
    with pytest.raises(ValueError, match="expected a JSON list of \\{id, caption_1, caption_2, image_1, image_2, "
                                         "image_source, caption_source\\}, found a dict"):
        run()
    io.write_json(path, [{"id": 0, "caption": "a red cup", "image": "images/img_0_1.png"}])
    with pytest.raises(ValueError, match="entry 0 has \\['caption', 'id', 'image'\\]; expected the keys "
                                         "\\['caption_1', 'caption_2', 'image_1', 'image_2'\\]"):
        run()
    io.write_json(path, [entries[0], {**entries[1], "id": 0}])
    with pytest.raises(ValueError, match="ids are not unique, e.g. id 0 is given twice"):
        run()
    io.write_json(path, [])
    with pytest.raises(ValueError, match="test.json: no example"):
        run()


def test_the_shapes_analogue_is_the_authors_layout_with_the_colours_swapped(tmp_path, tiny):
    spec = colorswap.build_shapes(str(tmp_path), WORLD, {"shapes_examples": 12}, 0)
    assert spec == {"data": ".", "split": "test"}
    entries = json.loads((tmp_path / "test.json").read_text(encoding="utf-8"))
    heldout = shapes.heldout_combos(0, WORLD["heldout_combos"])
    assert [e["id"] for e in entries] == list(range(12))
    for e in entries:
        assert list(e) == ["id", "caption_1", "caption_2", "image_1", "image_2", "image_source", "caption_source"]
        assert (e["image_1"], e["image_2"]) == (f"images/img_{e['id']}_1.png", f"images/img_{e['id']}_2.png")
        words = [re.findall(r"\w+", e[f"caption_{k}"]) for k in (1, 2)]
        assert sorted(words[0]) == sorted(words[1]) and words[0] != words[1]  # the same words, bound otherwise
        (scene, phrasing), (other, other_phrasing) = shapes.parse(e["caption_1"]), shapes.parse(e["caption_2"])
        assert phrasing == other_phrasing and scene.relation == other.relation and len(scene.objects) == 2
        a, b = scene.objects
        assert a.colour != b.colour and scene.combos() & heldout  # two colours; a test scene
        # the colour words exchanged, every other word in its place
        assert other.objects == (shapes.Obj(a.size, b.colour, a.shape, a.hollow),
                                 shapes.Obj(b.size, a.colour, b.shape, b.hollow))
        swapped = [{a.colour: b.colour, b.colour: a.colour}.get(w, w) for w in words[0]]
        assert swapped == words[1]
        images = [Image.open(tmp_path / e[f"image_{k}"]) for k in (1, 2)]
        assert all(i.format == "PNG" and i.size == (32, 32) for i in images)
        assert images[0].tobytes() != images[1].tobytes()
    metrics, details, samples = colorswap.evaluate(*tiny, spec, str(tmp_path))
    assert details["examples"] == 12 and samples["category"].eq("shapes").all()
    assert colorswap.metrics_from_samples(samples) == metrics
    assert samples["sample_id"].tolist() == [str(i) for i in range(12)]
    assert samples["image_0"].tolist() == [f"images/img_{i}_1.png" for i in range(12)]
