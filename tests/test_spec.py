"""SPEC in the authors' layout (wjpoom/SPEC `spec/dataset.py`: {data}/{subset}/image2text.json and text2image.json,
JSON lists of {query, keys, label}, image paths relative to the subset folder), written tiny here with PNGs made
here; scored against a reference of the authors' CLIP wrapper (`spec/models/clip_wrapper.py` lines 20-99: per
batch, normalized embeddings, einsum, argmax == label, 100 x correct / total; `spec/eval.py` lines 41-52: the mean
over subsets) computed in this file from open_clip features of a tiny random model."""

import random

import pandas as pd
import pytest
import torch
from helpers.colour_model import COLOURS, ColourModel
from helpers.colour_model import preprocess as colour_preprocess
from helpers.colour_model import tokenizer as colour_tokenizer
from PIL import Image

from tripletclip import io, shapes
from tripletclip.evals import spec

WORLD = {"heldout_combos": 6, "image_size": 32, "hollow_rate": 0.2, "third_object_rate": 0.3}
RGB = [(220, 30, 30), (30, 60, 220), (30, 180, 60), (240, 220, 40), (250, 250, 250), (10, 10, 10)]
# subset -> (K, captions of a case): the candidates' words differ in the subset's concept, as SPEC's do
SUBSETS = {"count": (4, ["one {x}", "two {x}s", "three {x}s", "four {x}s"]),
           "existence": (2, ["there is a {x} in the picture", "there is no {x} in the picture"])}
THINGS = ["dog", "cup", "chair"]


def write_spec(data, seed=0):
    """Per subset, a case per thing: K images of two colours (stripes of K widths) and K captions, the label of each
    query at its own position, as the authors' files have it."""
    rng = random.Random(seed)
    written = {}
    for subset, (k, templates) in SUBSETS.items():
        i2t, t2i = [], []
        for case, thing in enumerate(THINGS):
            captions = [t.format(x=thing) for t in templates]
            images = []
            for j in range(k):
                image = Image.new("RGB", (16, 16), RGB[(case + j) % 6])
                image.paste(RGB[(case + 2 * j + 1) % 6], (0, 0, 4 * (j + 1), 16))
                name = f"images/{subset}_{case}_{j}.png"
                (data / subset / "images").mkdir(parents=True, exist_ok=True)
                image.save(data / subset / name, format="PNG")
                images.append(name)
            order = list(range(k))
            rng.shuffle(order)  # the candidates in another order per case: the label is not always 0
            i2t += [{"query": images[j], "keys": [captions[o] for o in order], "label": order.index(j)}
                    for j in range(k)]
            t2i += [{"query": captions[j], "keys": [images[o] for o in order], "label": order.index(j)}
                    for j in range(k)]
        io.write_json(data / subset / "image2text.json", i2t)
        io.write_json(data / subset / "text2image.json", t2i)
        written[subset] = (i2t, t2i)
    return written


def authors_accuracy(tiny, subset_root, i2t, t2i, batch_size=2):
    """clip_wrapper.py's i2t_evaluate / t2i_evaluate, batch by batch: ([predicted], accuracy %) per direction."""
    model, preprocess, tokenizer = tiny
    out = {}
    with torch.no_grad():
        predicted, correct = [], 0
        for start in range(0, len(i2t), batch_size):
            batch = i2t[start:start + batch_size]
            images = torch.stack([preprocess(Image.open(subset_root / e["query"]).convert("RGB")) for e in batch])
            image_embeddings = model.encode_image(images)
            image_embeddings /= image_embeddings.norm(dim=-1, keepdim=True)
            tokens = torch.stack([tokenizer(e["keys"]) for e in batch]).flatten(0, 1)
            text_embeddings = model.encode_text(tokens)
            text_embeddings /= text_embeddings.norm(dim=-1, keepdim=True)
            text_embeddings = text_embeddings.reshape(len(batch), -1, text_embeddings.shape[-1])
            preds = torch.einsum("BD,BLD->BL", image_embeddings, text_embeddings).argmax(dim=-1)
            correct += (torch.tensor([e["label"] for e in batch]) == preds).sum().item()
            predicted += preds.tolist()
        out["i2t"] = (predicted, 100 * correct / len(i2t))
        predicted, correct = [], 0
        for start in range(0, len(t2i), batch_size):
            batch = t2i[start:start + batch_size]
            text_embeddings = model.encode_text(tokenizer([e["query"] for e in batch]))
            text_embeddings /= text_embeddings.norm(dim=-1, keepdim=True)
            images = torch.stack([torch.stack([preprocess(Image.open(subset_root / k).convert("RGB"))
                                               for k in e["keys"]]) for e in batch]).flatten(0, 1)
            image_embeddings = model.encode_image(images)
            image_embeddings /= image_embeddings.norm(dim=-1, keepdim=True)
            image_embeddings = image_embeddings.reshape(len(batch), -1, image_embeddings.shape[-1])
            preds = torch.einsum("BD,BKD->BK", text_embeddings, image_embeddings).argmax(dim=-1)
            correct += (torch.tensor([e["label"] for e in batch]) == preds).sum().item()
            predicted += preds.tolist()
        out["t2i"] = (predicted, 100 * correct / len(t2i))
    return out


def test_scores_are_the_authors_clip_wrapper_on_their_layout(tmp_path, tiny):
    written = write_spec(tmp_path / "data")
    metrics, details, samples = spec.evaluate(*tiny, {"data": "data", "subsets": list(SUBSETS)}, str(tmp_path),
                                              batch_size=5)
    assert list(samples.columns) == list(spec.COLUMNS)
    assert list(pd.unique(samples["category"])) == ["count_i2t", "count_t2i", "existence_i2t", "existence_t2i"]
    expected = {}
    for subset, (i2t, t2i) in written.items():
        theirs = authors_accuracy(tiny, tmp_path / "data" / subset, i2t, t2i)
        for direction, (predicted, accuracy) in theirs.items():
            rows = samples[samples["category"] == f"{subset}_{direction}"]
            assert rows["predicted"].tolist() == predicted
            assert rows["label"].tolist() == [e["label"] for e in (i2t if direction == "i2t" else t2i)]
            expected[f"{subset}_{direction}"] = accuracy
    # eval.py lines 41-52: the mean over subsets of each direction
    expected["i2t"] = (expected["count_i2t"] + expected["existence_i2t"]) / 2
    expected["t2i"] = (expected["count_t2i"] + expected["existence_t2i"]) / 2
    expected["avg"] = (expected["i2t"] + expected["t2i"]) / 2
    assert metrics == pytest.approx(expected, abs=1e-12) and list(metrics) == list(expected)
    assert 0 < expected["avg"] < 100  # the random model gets some right and some wrong
    assert details == {"count_i2t": {"cases": 12, "candidates": 4}, "count_t2i": {"cases": 12, "candidates": 4},
                       "existence_i2t": {"cases": 6, "candidates": 2},
                       "existence_t2i": {"cases": 6, "candidates": 2}}
    # the table names each image inside the data folder, and a t2i row's true and best false image
    first = samples.iloc[0]
    assert first["image"] == "count/" + written["count"][0][0]["query"]
    t2i = samples[samples["category"] == "count_t2i"].iloc[0]
    assert t2i["caption"] == written["count"][1][0]["query"] and t2i["negative_caption"] is None
    assert t2i["image"] == "count/" + written["count"][1][0]["keys"][written["count"][1][0]["label"]]
    assert t2i["negative_image"].startswith("count/images/") and t2i["negative_image"] != t2i["image"]
    assert spec.metrics_from_samples(samples) == metrics


def test_known_verdicts_by_hand_and_a_tie_goes_to_the_first_candidate(tmp_path):
    """The colour model: an image is its mean colour, a caption its colour-word counts. A tie goes to the first of
    the equal candidates (torch's argmax), right only where that is the label."""
    data = tmp_path / "data" / "existence"
    (data / "images").mkdir(parents=True)
    for colour, rgb in COLOURS.items():
        Image.new("RGB", (4, 4), rgb).save(data / "images" / f"{colour}.png", format="PNG")
    io.write_json(data / "image2text.json", [
        {"query": "images/red.png", "keys": ["blue", "red"], "label": 1},  # right
        {"query": "images/red.png", "keys": ["red", "red"], "label": 1},  # a tie: the first wins, wrong
        {"query": "images/red.png", "keys": ["red", "red"], "label": 0},  # a tie: the first wins, right
        {"query": "images/blue.png", "keys": ["red", "green"], "label": 0}])  # both 0, a tie: right
    io.write_json(data / "text2image.json", [
        {"query": "green", "keys": ["images/red.png", "images/green.png"], "label": 1},  # right
        {"query": "blue", "keys": ["images/red.png", "images/green.png"], "label": 1}])  # a tie at 0: wrong
    metrics, _, samples = spec.evaluate(ColourModel(), colour_preprocess, colour_tokenizer,
                                        {"data": "data", "subsets": ["existence"]}, str(tmp_path), batch_size=3)
    assert samples["correct"].tolist() == [True, False, True, True, True, False]
    assert samples["predicted"].tolist() == [1, 0, 0, 0, 1, 0]
    assert metrics == {"existence_i2t": 75.0, "existence_t2i": 50.0, "i2t": 75.0, "t2i": 50.0, "avg": 62.5}


def test_a_blind_scorer_is_at_chance_on_the_analogue(tmp_path):
    """On the analogue every caption set is the candidates of as many image queries, each true once: a text-only
    scorer is right on one of them per set (ties aside); text-to-image it sees no image, so it is right 1/K."""
    built = spec.build_shapes(str(tmp_path), WORLD, {"shapes_examples": 12}, seed=0)
    data, _ = spec.load(built, tmp_path)
    rows = []
    for (subset, direction), cases in data.items():
        k = len(cases[0].keys)
        scores = torch.rand(len(cases), k, generator=torch.Generator().manual_seed(0))
        rows += spec.rows(subset, direction, cases, scores)
    items = pd.DataFrame(rows, columns=spec.COLUMNS)

    class Length:  # no ties between different captions of a set: they differ in one word of different length
        def score(self, caption):
            return len(caption) + sum(map(ord, caption)) / 1e6

    scored = spec.score_blind(items, Length(), "blind-length")
    assert list(scored.columns) == list(spec.COLUMNS)
    i2t = scored[scored["category"].str.endswith("_i2t")]
    per_set = i2t.groupby(i2t["candidates"].map(tuple))["correct"].sum()
    assert (per_set == 1).all() and len(per_set) == 24  # 12 cases x 2 subsets, each right once
    metrics = spec.metrics_from_samples(scored)
    assert metrics["absolute_size_i2t"] == 50.0 and metrics["relative_spatial_i2t"] == 25.0
    # text-to-image: every candidate ties, the coin of blind.tie_break decides, right about one time in K
    assert 20 <= metrics["absolute_size_t2i"] <= 80 and 5 <= metrics["relative_spatial_t2i"] <= 50
    assert scored[["caption", "image", "label"]].equals(items[["caption", "image", "label"]])


def test_spec_says_what_layout_it_expected(tmp_path, tiny):
    def run(**given):
        return spec.evaluate(*tiny, {"data": "repo/data", "subsets": ["count", "existence"], **given},
                             str(tmp_path))

    with pytest.raises(FileNotFoundError, match="SPEC data: expected the authors' data folder .* at .*repo/data, "
                                                "found nothing"):
        run()
    written = write_spec(tmp_path / "repo" / "data")
    with pytest.raises(FileNotFoundError, match="repo holds no folder count, existence \\(found \\['data'\\]\\); "
                                                "expected .*; .*repo/data holds them: set `data` to that folder"):
        run(data="repo")
    with pytest.raises(FileNotFoundError,
                       match="holds no folder absolute_size, relative_size, absolute_spatial, relative_spatial "
                             "\\(found"):
        run(subsets=None)  # all six by default
    with pytest.raises(ValueError, match="subset\\(s\\) 'size' are none of absolute_size, relative_size"):
        run(subsets=["size"])
    with pytest.raises(ValueError, match="the spec names no `data`"):
        run(data=None)
    (tmp_path / "repo/data/existence/images/existence_1_0.png").unlink()
    with pytest.raises(FileNotFoundError, match="SPEC images in .*: 1 of 18 images are missing, e.g. "
                                                ".*repo/data/existence/images/existence_1_0.png"):
        run()
    path = tmp_path / "repo/data/count/text2image.json"
    i2t, t2i = written["count"]
    for entries, message in [
        ({"cases": t2i}, "count/text2image.json: expected a list of \\{query, keys, label\\}, found a dict"),
        ([], "count/text2image.json: no case"),
        ([{**t2i[0], "label": 4}], "case 0 has label 4; expected the index \\(0 to 3\\)"),
        ([{**t2i[0], "label": True}], "case 0 has label True"),
        ([{**t2i[0], "keys": ["images/a.png"]}], "case 0 has keys \\['images/a.png'\\]; expected a list of at "
                                                 "least two image paths"),
        ([t2i[0], {**t2i[1], "keys": t2i[1]["keys"][:3]}], "case 1 has 3 keys, case 0 4"),
        ([{"query": "two dogs", "candidates": t2i[0]["keys"]}],
         "entry 0 has \\['candidates', 'query'\\]; expected the keys \\['query', 'keys', 'label'\\]"),
    ]:
        io.write_json(path, entries)
        with pytest.raises(ValueError, match=message):
            run()
    path.unlink()
    with pytest.raises(FileNotFoundError, match="SPEC count/text2image.json: expected a JSON file, found nothing"):
        run()


def test_the_shapes_analogue_is_the_authors_layout_differing_in_one_concept(tmp_path, tiny):
    built = spec.build_shapes(str(tmp_path / "a"), WORLD, {"shapes_examples": 3}, seed=0)
    assert built == {"data": ".", "subsets": ["absolute_size", "relative_spatial"]}
    assert spec.build_shapes(str(tmp_path / "b"), WORLD, {"shapes_examples": 3}, seed=0) == built
    for path in sorted((tmp_path / "a").rglob("*.*")):
        assert (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes() == path.read_bytes()
    data, _ = spec.load(built, tmp_path / "a")
    assert {key: len(cases) for key, cases in data.items()} == {
        ("absolute_size", "i2t"): 6, ("absolute_size", "t2i"): 6, ("relative_spatial", "i2t"): 12,
        ("relative_spatial", "t2i"): 12}
    for subset, values in spec.SHAPES_SUBSETS.items():
        case = data[subset, "i2t"][:len(values)]
        captions = case[0].keys
        assert [c.label for c in case] == list(range(len(values))) and all(c.keys == captions for c in case)
        # the captions differ in the concept's words alone, and each parses to the scene its image shows
        words = [set(c.split()) for c in captions]
        assert all(len(w ^ words[0]) <= 5 for w in words) and len(set(captions)) == len(values)
        scenes = [shapes.parse(c)[0] for c in captions]
        if subset == "absolute_size":
            assert [s.objects[0].size for s in scenes] == list(values)
        else:
            assert [s.relation for s in scenes] == list(values)
        images = [Image.open(tmp_path / "a" / subset / c.query) for c in case]
        assert len({im.tobytes() for im in images}) == len(values)
        t2i = data[subset, "t2i"][:len(values)]
        assert [c.query for c in t2i] == captions and all(c.keys == [x.query for x in case] for c in t2i)
    metrics, _, samples = spec.evaluate(*tiny, built, str(tmp_path / "a"))
    assert set(metrics) == {"absolute_size_i2t", "absolute_size_t2i", "relative_spatial_i2t",
                            "relative_spatial_t2i", "i2t", "t2i", "avg"}
    assert len(samples) == 36 and samples["image"].map(lambda p: (tmp_path / "a" / p).is_file()).all()
