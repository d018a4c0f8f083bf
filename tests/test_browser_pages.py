"""The error browser's page of each benchmark issue 30 added, on the fixture its own test writes in the authors'
layout: every item a model gets wrong shows its images, found where the registry says (`browse.image_roots`) and
embedded as thumbnails, whatever the layout (files, Visual Genome's two folders, images inside Arrow shards)."""

import pytest
import test_crepe
import test_eqben
import test_mmvp_vlm
import test_spec
import test_svo_probes
import test_vismin

from tripletclip import browse
from tripletclip.evals import module


def _spec(root):
    test_spec.write_spec(root / "data")
    return {"data": "data", "subsets": ["count", "existence"]}


def _mmvp(root):
    test_mmvp_vlm.write_mmvp(root / "mmvp")
    return {"data": "mmvp"}


def _eqben(root):
    test_eqben.write_eqben(root / "eqben")
    return {"data": "eqben/ann", "image_dir": "eqben/images"}


def _crepe(root):
    test_crepe.write_crepe(root)
    return {"data": "data", "image_dir": "vg", "complexities": [4, 5]}


def _svo(root):
    spec = test_svo_probes.write_svo(root / "svo")
    return {**spec, "data": "svo/" + spec["data"], "image_dir": "svo/" + spec["image_dir"]}


def _vismin(root):
    test_vismin.write_hub(root / "hub")
    return {"data": "hub"}


FIXTURES = {"spec": _spec, "mmvp_vlm": _mmvp, "eqben": _eqben, "crepe": _crepe, "svo_probes": _svo,
            "vismin": _vismin}


@pytest.mark.parametrize("benchmark", FIXTURES)
def test_every_wrong_item_shows_its_images(tmp_path, tiny, benchmark):
    spec = FIXTURES[benchmark](tmp_path)
    _, _, samples = module(benchmark).evaluate(*tiny, spec, str(tmp_path))
    assert (~samples["correct"]).any(), "the random model gets some item wrong"
    roots = browse.image_roots(benchmark, spec, str(tmp_path))
    data = browse.browser_data(samples.assign(model="tiny", benchmark=benchmark), roots, "t", max_per_view=50,
                               thumbnail=16, max_images=500)
    assert [b["name"] for b in data["benchmarks"]] == [benchmark] and not data["left_out"]
    slots = [slot for category in data["benchmarks"][0]["categories"] for item in category["items"]
             for slot in item["images"]]
    # an item without an image in a column (SPEC's negative_image on an image-to-text item) shows nothing there
    assert all(why is None and index is None for path, index, why in slots if path is None)
    slots = [slot for slot in slots if slot[0] is not None]
    assert slots and all(index is not None for _, index, _ in slots), [s for s in slots if s[1] is None][:3]
    assert all(data["images"][index].startswith("data:image/jpeg;base64,") for _, index, _ in slots)
    # one slot per image column a wrong item has: the true and the best false image where the model chose an image
    wrong = samples[~samples["correct"]]
    columns = [c for c in browse.IMAGE_COLUMNS if c in wrong]
    assert len(slots) == int(wrong[columns].notna().sum().sum())
