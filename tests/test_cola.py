"""Cola's multi-object setting: COLA_multiobjects_matching_benchmark.json (a list of [image link, caption, image link,
caption]) and the Visual Genome images it links to, written tiny in that layout with images made here; scores from
the colour model (tests/helpers/colour_model.py), worked out by hand."""

import base64
import io as bytes_io
import json

import pandas as pd
import pytest
from helpers.colour_model import COLOURS, ColourModel, preprocess, tokenizer
from PIL import Image

from tripletclip import blind, browse, io, shapes
from tripletclip.evals import cola

WORLD = {"heldout_combos": 6, "image_size": 32, "hollow_rate": 0.2, "third_object_rate": 0.3}
URL = "https://cs-people.bu.edu/array/data/vg_gqa_images/{}.jpg"  # how Cola links its images
# Visual Genome ids, each image where Visual Genome's two zips unpack it (or flat, as GQA's images/ holds them).
# A solid JPEG decodes red to (254, 0, 0) and blue to (0, 0, 254): the colour model sees exactly (1, 0, 0) and
# (0, 0, 1), so equal similarities are equal to the bit and a tie is a tie.
IMAGES = {"1": ("VG_100K", "red"), "2": ("VG_100K_2", "blue"), "3": ("", "red"), "4": ("VG_100K", "blue")}
# With a = 1/√2 and b = 1/√5 (a caption's colour counts, normalized):
PAIRS = [
    [URL.format(1), "red", URL.format(2), "blue"],  # s = 1, 0, 0, 1: text, image and group right
    # s(c0, i0) = 1, s(c0, i1) = 0, s(c1, i0) = s(c1, i1) = a: the text score holds; the image score asks
    # s(c1, i1) > s(c1, i0), a tie, wrong
    [URL.format(3), "red", URL.format(2), "red blue"],
    ["https://cs-people.bu.edu/array/data/vg_gqa_images/5.jpg", "red"],  # not four strings: skipped, counted
    [URL.format(1), "blue", URL.format(4), "red"],  # s = 0, 1, 1, 0: all wrong
    # "red green green" = (1, 2, 0)/√5, "red blue blue" = (1, 0, 2)/√5: s(c0, i0) = b = s(c1, i0), a tie, so the
    # text score is wrong; s(c0, i0) = b > s(c0, i1) = 0 and s(c1, i1) = 2b > s(c1, i0) = b: the image score holds
    [URL.format(3), "red green green", URL.format(4), "red blue blue"],
]
# Cola's accuracy (image) 2/4, text 2/4, group 1/4
EXPECTED = {"image": 50.0, "text": 50.0, "group": 25.0}


def write_cola(folder, pairs=PAIRS, images=IMAGES):
    for vg_id, (sub, colour) in images.items():
        (folder / "images" / sub).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), COLOURS[colour]).save(folder / "images" / sub / f"{vg_id}.jpg", format="JPEG")
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / cola.FILE).write_text(json.dumps(pairs), encoding="utf-8")


def run(folder, spec):
    return cola.evaluate(ColourModel(), preprocess, tokenizer, spec, str(folder), batch_size=3)


def test_cola_image_text_and_group_scores(tmp_path):
    write_cola(tmp_path)
    metrics, details, samples = run(tmp_path, {"examples": f"data/{cola.FILE}", "image_dir": "images"})
    assert metrics == pytest.approx(EXPECTED)
    assert cola.metrics_from_samples(samples) == metrics  # the same floats
    assert details == {"pairs": 4, "skipped": 1}
    assert list(samples.columns) == list(cola.COLUMNS)
    # category, sample_id (the position in the list: entry 2 was skipped), correct (Cola's: the image score),
    # text, image, group, captions, images (file names from the links)
    assert samples.drop(columns=["c0_i0", "c0_i1", "c1_i0", "c1_i1"]).values.tolist() == [
        ["multi_object", "0", True, True, True, True, "red", "blue", "1.jpg", "2.jpg"],
        ["multi_object", "1", False, True, False, False, "red", "red blue", "3.jpg", "2.jpg"],
        ["multi_object", "3", False, False, False, False, "blue", "red", "1.jpg", "4.jpg"],
        ["multi_object", "4", True, False, True, False, "red green green", "red blue blue", "3.jpg", "4.jpg"]]
    a, b = 0.5 ** 0.5, 0.2 ** 0.5
    assert samples[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [
        pytest.approx([1, 0, 0, 1]), pytest.approx([1, 0, a, a]), pytest.approx([0, 1, 1, 0]),
        pytest.approx([b, 0, b, 2 * b])]
    assert samples.loc[1, "c1_i0"] == samples.loc[1, "c1_i1"] and samples.loc[3, "c0_i0"] == samples.loc[3, "c1_i0"]
    # the downloaded repository's folder, and images/ beside the JSON by default, give the same table
    (tmp_path / "data" / "images").symlink_to(tmp_path / "images")
    pd.testing.assert_frame_equal(run(tmp_path, {"examples": "."})[2], samples)
    pd.testing.assert_frame_equal(run(tmp_path, {"examples": f"data/{cola.FILE}", "image_dir": None})[2], samples)


def test_the_error_browser_finds_the_images_in_visual_genomes_folders(tmp_path):
    write_cola(tmp_path)
    (tmp_path / "data" / "images").symlink_to(tmp_path / "images")
    _, _, samples = run(tmp_path, {"examples": "."})  # the repository's folder, images/ beside the JSON
    roots = browse.image_roots("cola", {"examples": "."}, str(tmp_path))
    data = browse.browser_data(samples.assign(model="colour", benchmark="cola"), roots, "t", max_per_view=10,
                               thumbnail=16, max_images=100)
    shown = {path: index for cat in data["benchmarks"][0]["categories"] for item in cat["items"]
             for path, index, _ in item["images"]}
    # the pairs Cola's accuracy marks wrong, 1 and 3: images 3 (flat), 2 (VG_100K_2), 1 and 4 (VG_100K)
    assert set(shown) == {"1.jpg", "2.jpg", "3.jpg", "4.jpg"} and None not in shown.values()
    for path, index in shown.items():
        thumb = Image.open(bytes_io.BytesIO(base64.b64decode(data["images"][index].split(",", 1)[1])))
        colour = COLOURS[IMAGES[path.removesuffix(".jpg")][1]]
        assert max(abs(a - b) for a, b in zip(thumb.convert("RGB").getpixel((1, 1)), colour)) < 30


def test_image_names_are_the_links_last_segment():
    assert cola.image_name(URL.format(2414605)) == "2414605.jpg"
    assert cola.image_name("https://host/a/b/7.jpg?download=1") == "7.jpg"
    assert cola.image_name("VG_100K_2/7.jpg") == cola.image_name("C:\\vg\\7.jpg") == "7.jpg"


def test_a_blind_scorer_gets_every_pair_wrong():
    """s(c, i) = score(c) for both images: the image score (Cola's) compares a caption's score with itself, a tie,
    wrong; the text score would need score(c0) > score(c1) > score(c0)."""
    items = pd.DataFrame([{"category": "multi_object", "sample_id": str(i), "correct": True, "c0_i0": 0.3,
                           "c0_i1": 0.1, "c1_i0": 0.1, "c1_i1": 0.3, "text_correct": True, "image_correct": True,
                           "group_correct": True, "caption_0": c0, "caption_1": c1, "image_0": f"{2 * i}.jpg",
                           "image_1": f"{2 * i + 1}.jpg"}
                          for i, (c0, c1) in enumerate([("a red circle", "a small red circle"),
                                                        ("a red circle", "a blue circle")])])
    scored = cola.score_blind(items, blind.Shorter(), "blind-shorter")
    assert list(scored.columns) == list(cola.COLUMNS)
    # Shorter: -(words); the first pair's captions differ in length, the second's tie
    assert scored[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [[-3, -3, -4, -4], [-3, -3, -3, -3]]
    assert not scored[["correct", "text_correct", "image_correct", "group_correct"]].values.any()
    assert cola.metrics_from_samples(scored) == {"image": 0.0, "text": 0.0, "group": 0.0}
    assert scored[["caption_0", "image_1", "sample_id"]].equals(items[["caption_0", "image_1", "sample_id"]])


def test_cola_says_what_it_expected_and_found(tmp_path):
    def spec(**changes):
        return {"examples": f"data/{cola.FILE}", "image_dir": "images", **changes}

    write_cola(tmp_path)
    with pytest.raises(FileNotFoundError, match="holds none of data/COLA_multiobjects_matching_benchmark.json, .*"
                                                "found \\['3.jpg', 'VG_100K', "):
        run(tmp_path, spec(examples="images"))
    with pytest.raises(FileNotFoundError, match="Cola examples: no file or folder .*data/missing.json"):
        run(tmp_path, spec(examples="data/missing.json"))
    with pytest.raises(FileNotFoundError, match="expected a folder of the Visual Genome / GQA images .* at "
                                                ".*elsewhere, found none; set `image_dir`"):
        run(tmp_path, spec(image_dir="elsewhere"))
    (tmp_path / "images" / "VG_100K" / "4.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="Cola images in .*: 1 of 4 images are missing, e.g. .*images/4.jpg"):
        run(tmp_path, spec())
    io.write_json(tmp_path / "dict.json", {"pairs": PAIRS})
    with pytest.raises(ValueError, match="expected a JSON list of \\[image 1, caption 1, image 2, caption 2\\], "
                                         "found a dict"):
        run(tmp_path, spec(examples="dict.json"))
    io.write_json(tmp_path / "bad.json", [{"image": URL.format(1), "caption": "red"}])
    with pytest.raises(ValueError, match="found 1 entries, none of them one, e.g. \\{'image': "):
        run(tmp_path, spec(examples="bad.json"))


def test_the_shapes_analogue_is_colas_format_and_read_back(tmp_path):
    spec = cola.build_shapes(str(tmp_path), WORLD, {"shapes_examples": 12}, 0)
    assert spec == {"examples": cola.FILE, "image_dir": "images"}
    pairs = json.loads((tmp_path / cola.FILE).read_text(encoding="utf-8"))
    assert len(pairs) == 12 and all(len(p) == 4 and all(isinstance(x, str) for x in p) for p in pairs)
    heldout = shapes.heldout_combos(0, WORLD["heldout_combos"])
    for first, caption_0, second, caption_1 in pairs:
        assert (tmp_path / "images" / cola.image_name(first)).is_file() and first != second
        (scene, phrasing), (other, other_phrasing) = shapes.parse(caption_0), shapes.parse(caption_1)
        assert phrasing == other_phrasing and len(scene.objects) == len(other.objects) == 2
        assert scene.combos() & heldout  # a test scene: a colour-shape combination training never shows
        # the second scene is the first with an attribute swapped between its two objects
        assert other in shapes._candidates(scene, "swap_att") and scene.relation == other.relation
        assert sorted(caption_0.split()) == sorted(caption_1.split())  # the same words, bound otherwise
        with Image.open(tmp_path / "images" / cola.image_name(second)) as image:
            assert image.format == "JPEG" and image.size == (32, 32)
    metrics, details, samples = run(tmp_path, spec)
    assert details == {"pairs": 12, "skipped": 0} and len(samples) == 12
    assert cola.metrics_from_samples(samples) == metrics
    assert samples["sample_id"].tolist() == [str(i) for i in range(12)]
    assert samples["image_0"].tolist() == [f"{2 * i}.jpg" for i in range(12)]
