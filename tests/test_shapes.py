import random

import numpy as np
import pytest

from tripletclip import shapes


def scenes(n, split="train", seed=0, third_object_rate=0.3):
    heldout = shapes.heldout_combos(seed, 6)
    rng = random.Random(seed)
    return [(shapes.sample_scene(rng, split, heldout, third_object_rate=third_object_rate),
             shapes.random_phrasing(rng)) for _ in range(n)]


def test_some_true_scenes_have_a_third_object_so_that_count_does_not_mark_add_obj_negatives():
    counts = [len(s.objects) for s, _ in scenes(1000)]
    assert set(counts) == {2, 3} and 250 <= counts.count(3) <= 350
    assert all(len(s.objects) == 2 for s, _ in scenes(200, third_object_rate=0.0))
    three = next(s for s, _ in scenes(50) if len(s.objects) == 3)
    assert shapes.negative(three, "add_obj", random.Random(0)) is None  # add_obj adds the third object only


def test_colour_bias_skews_training_colours_towards_each_shapes_usual_one_and_leaves_the_test_split_uniform():
    heldout = shapes.heldout_combos(0, 6)
    typical = shapes.typical_colours(0, heldout)
    assert sorted(typical) == sorted(shapes.SHAPES) and len(set(typical.values())) == len(shapes.SHAPES)
    assert not {(c, s) for s, c in typical.items()} & heldout

    def usual_share(split, bias):
        rng = random.Random(3)
        objs = [o for _ in range(1000)
                for o in shapes.sample_scene(rng, split, heldout, 0.2, 0.3, typical, bias).objects]
        return np.mean([typical[o.shape] == o.colour for o in objs]), objs

    share, objs = usual_share("train", 0.8)
    assert 0.78 <= share <= 0.9 and not {(o.colour, o.shape) for o in objs} & heldout
    assert 0.1 <= usual_share("train", 0.0)[0] <= 0.2  # 1 in 6 seen colours of each shape
    assert 0.05 <= usual_share("test", 0.8)[0] <= 0.2  # the benchmark's scenes stay unbiased
    # An unbiased world draws exactly the scenes it drew before the option existed.
    a, b = random.Random(5), random.Random(5)
    assert ([shapes.sample_scene(a, "train", heldout, 0.2, 0.3) for _ in range(200)]
            == [shapes.sample_scene(b, "train", heldout, 0.2, 0.3, typical, 0.0) for _ in range(200)])


def test_grammar_parser_round_trip_for_every_phrasing_and_negative():
    rng = random.Random(1)
    for scene, phrasing in scenes(300):
        caption = shapes.describe(scene, phrasing)
        parsed, parsed_phrasing = shapes.parse(caption)
        assert parsed == scene
        assert shapes.describe(parsed, parsed_phrasing) == caption
        for kind in shapes.NEGATIVE_TYPES:
            neg = shapes.negative(scene, kind, rng)
            if neg is not None:
                assert shapes.parse(shapes.describe(neg, phrasing))[0] == neg


def test_grammar_has_variety_and_parser_is_lenient_about_case_and_punctuation():
    captions = {shapes.describe(s, p).split(" a ")[0] for s, p in scenes(200)}
    assert len({shapes.describe(s, p) for s, p in scenes(200)}) == 200
    assert len(captions) > 3
    scene, _ = shapes.parse("  A Small RED circle   left of a large blue square. ")
    assert scene == shapes.Scene((shapes.Obj("small", "red", "circle"), shapes.Obj("large", "blue", "square")), "left")


@pytest.mark.parametrize("caption", ["", "a dog on a mat", "a small red circle left of", "a red circle left of a blue square",
                                     "a small pink circle left of a large blue square"])
def test_parser_rejects_what_the_grammar_cannot_say(caption):
    with pytest.raises(shapes.CaptionError):
        shapes.parse(caption)


def test_negative_types_change_what_they_name():
    a, b = shapes.Obj("small", "red", "circle"), shapes.Obj("large", "blue", "square")
    scene = shapes.Scene((a, b), "left")
    rng = random.Random(0)
    swap_att = shapes.negative(scene, "swap_att", rng)
    assert {o.shape for o in swap_att.objects} == {"circle", "square"} and swap_att.relation == "left"
    assert (swap_att.objects[0].colour, swap_att.objects[1].colour) == ("blue", "red") or \
           (swap_att.objects[0].size, swap_att.objects[1].size) == ("large", "small")
    assert shapes.negative(scene, "swap_obj", rng).objects == (shapes.Obj("small", "red", "square"),
                                                               shapes.Obj("large", "blue", "circle"))
    assert shapes.negative(scene, "replace_rel", rng).relation != "left"
    assert len(shapes.negative(scene, "add_obj", rng).objects) == 3
    assert sum(o.hollow for o in shapes.negative(scene, "add_att", rng).objects) == 1
    replaced = shapes.negative(scene, "replace_obj", rng)
    assert sum(x.shape != y.shape for x, y in zip(replaced.objects, scene.objects)) == 1
    # swap_obj needs two different shapes; add_att an object that is not hollow yet
    same = shapes.Scene((a, shapes.Obj("large", "blue", "circle")), "above")
    assert shapes.negative(same, "swap_obj", rng) is None
    hollow = shapes.Scene((shapes.Obj("small", "red", "circle", True), shapes.Obj("large", "blue", "square", True)), "left")
    assert shapes.negative(hollow, "add_att", rng) is None


def test_forbidden_combinations_are_never_produced():
    heldout = shapes.heldout_combos(0, 6)
    rng = random.Random(3)
    for scene, _ in scenes(200):
        for kind in shapes.NEGATIVE_TYPES:
            neg = shapes.negative(scene, kind, rng, heldout)
            assert neg is None or not (neg.combos() & heldout)


def test_splits_hold_out_colour_shape_combinations():
    heldout = shapes.heldout_combos(0, 6)
    assert len(heldout) == 6
    assert len({c for c, _ in heldout}) == 6 and len({s for _, s in heldout}) == 6
    train = scenes(500, "train")
    test = scenes(200, "test")
    assert all(not (s.combos() & heldout) for s, _ in train)
    assert all(s.combos() & heldout for s, _ in test)
    # every colour and every shape is still seen in training: only the combination is new
    assert {o.colour for s, _ in train for o in s.objects} == set(shapes.COLOURS)
    assert {o.shape for s, _ in train for o in s.objects} == set(shapes.SHAPES)
    assert scenes(20, "train", seed=5) == scenes(20, "train", seed=5)


def test_renderer_is_deterministic_and_draws_the_relation():
    scene = shapes.parse("a large red circle left of a large blue square")[0]
    first = np.asarray(shapes.render(scene, 64, seed="k1"))
    assert np.array_equal(first, np.asarray(shapes.render(scene, 64, seed="k1")))
    assert not np.array_equal(first, np.asarray(shapes.render(scene, 64, seed="k2")))

    def centre_x(image, rgb):
        mask = (np.abs(image.astype(int) - rgb).sum(-1) < 60)
        return np.nonzero(mask)[1].mean()

    for seed in range(5):
        image = np.asarray(shapes.render(scene, 64, seed=seed))
        assert centre_x(image, shapes.COLOURS["red"]) < 32 < centre_x(image, shapes.COLOURS["blue"])
        below = np.asarray(shapes.render(shapes.Scene(scene.objects, "below"), 64, seed=seed))
        red_y = np.nonzero((np.abs(below.astype(int) - shapes.COLOURS["red"]).sum(-1) < 60))[0].mean()
        assert red_y > 32


def test_hollow_objects_are_drawn_hollow():
    filled = np.asarray(shapes.render(shapes.parse("a large red circle left of a large blue square")[0], 64, 0))
    hollow = np.asarray(shapes.render(shapes.parse("a large hollow red circle left of a large blue square")[0], 64, 0))
    red = lambda im: (np.abs(im.astype(int) - shapes.COLOURS["red"]).sum(-1) < 60).sum()
    assert red(hollow) < 0.8 * red(filled)
