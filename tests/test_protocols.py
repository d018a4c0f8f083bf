"""The shared protocols (tripletclip/evals/protocols.py) on hand-made features and scores whose verdicts are known,
ties included: choose the caption (or the image) among K, Winoground's 2x2 group, and its blind re-scoring."""

import numpy as np
import pandas as pd
import pytest
import torch

from tripletclip import blind
from tripletclip.evals import protocols

# Unit vectors: each candidate's score against E0 is its first coordinate, exactly.
E0, E1 = [1.0, 0.0], [0.0, 1.0]
HALF = [0.6, 0.8]  # s(E0, HALF) = 0.6


def features(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_choose_caption_is_right_iff_the_true_caption_scores_above_every_negative():
    image = features([E0, E0, E0, E1])
    captions = features([
        [E0, HALF, E1],  # 1 > 0.6, 0: right; the closest negative is HALF (index 0 among the negatives)
        [HALF, E1, E0],  # 0.6 < 1: wrong, beaten by the second negative
        [HALF, HALF, E1],  # 0.6 = 0.6: a tie, wrong
        [E1, HALF, E0],  # s = 1, 0.8, 0: right
    ])
    choice = protocols.choose_caption(image, captions)
    assert choice.correct.tolist() == [True, False, False, True]
    assert choice.closest.tolist() == [0, 1, 0, 0]  # row 3: the first of the two equal negatives
    assert choice.scores.dtype == torch.float32 and choice.scores.shape == (4, 3)
    assert choice.scores.flatten().tolist() == pytest.approx([1, 0.6, 0, 0.6, 0, 1, 0.6, 0.6, 0, 1, 0.8, 0])
    # K matrices (N, D) are the same candidates as one (N, K, D) tensor
    again = protocols.choose_caption(image, [captions[:, k] for k in range(3)])
    assert torch.equal(again.scores, choice.scores) and torch.equal(again.correct, choice.correct)


def test_a_tie_goes_to_the_true_candidate_only_when_asked():
    scores = [[0.5, 0.5], [0.5, 0.4], [0.4, 0.5], [0.3, 0.3]]
    assert protocols.choose(scores).correct.tolist() == [False, True, False, False]  # strict: a tie is wrong
    # ARO's order sets: argmax takes the first of equal scores, the original
    assert protocols.choose(scores, ties="true").correct.tolist() == [True, True, False, True]
    five = torch.tensor([[0.2, 0.1, 0.2, 0.2, 0.0]])
    assert protocols.choose(five, ties="true").correct.tolist() == [True]
    assert protocols.choose(five).correct.tolist() == [False]
    assert protocols.choose(five).closest.tolist() == [1]  # the first negative of the highest score


def test_choose_image_swaps_the_roles():
    caption = features([E0, E1])
    images = features([[E0, HALF], [HALF, E0]])  # caption 1: its true image 0.8 against 0
    choice = protocols.choose_image(caption, images)
    assert choice.correct.tolist() == [True, True]
    assert choice.scores.flatten().tolist() == pytest.approx([1, 0.6, 0.8, 0])
    assert protocols.choose_image(caption, features([[HALF, HALF], [E0, E1]])).correct.tolist() == [False, False]


def test_choose_refuses_what_is_not_a_choice():
    with pytest.raises(ValueError, match="ties must be one of"):
        protocols.choose([[1.0, 0.0]], ties="coin")
    with pytest.raises(ValueError, match="K >= 2"):
        protocols.choose([[1.0], [0.0]])
    with pytest.raises(ValueError, match="at least one negative"):
        protocols.choose_caption(features([E0]), [features([E0])])
    with pytest.raises(ValueError, match=r"\(N, K, D\)"):
        protocols.choose_caption(features([E0]), features([E0, E1]))


def test_similarity_depends_on_the_row_alone():
    # a caption encoded twice ties with itself exactly, however many rows are scored at once
    torch.manual_seed(0)
    rows = torch.nn.functional.normalize(torch.randn(7, 512), dim=-1)
    image = torch.nn.functional.normalize(torch.randn(512), dim=-1)
    together = protocols.similarity(rows, image)
    assert torch.equal(together, torch.stack([protocols.similarity(r[None], image)[0] for r in rows]))
    scores = protocols.candidate_scores(image.expand(3, -1), rows[:5].expand(3, -1, -1))
    assert torch.equal(scores, together[:5].expand(3, -1))


# s(c0, i0), s(c0, i1), s(c1, i0), s(c1, i1) and the verdicts (text, image, group) worked out by hand
GROUPS = [
    ((1.0, 0.0, 0.0, 1.0), (True, True, True)),  # each caption with its own image
    ((0.0, 1.0, 1.0, 0.0), (False, False, False)),  # each with the other
    ((0.9, 0.1, 0.2, 0.3), (True, True, True)),
    # s(c0, i0) = s(c1, i0): image 0 cannot pick its caption (a tie, wrong); each caption picks its image
    ((0.5, 0.2, 0.5, 0.7), (False, True, False)),
    # s(c1, i1) = s(c1, i0): caption 1 cannot pick its image; each image picks its caption
    ((0.9, 0.1, 0.4, 0.4), (True, False, False)),
    ((0.5, 0.6, 0.1, 0.7), (True, False, False)),  # each image picks its caption, but caption 0 picks image 1
    ((0.5, 0.5, 0.5, 0.5), (False, False, False)),  # a blind scorer's shape: all tied
]


@pytest.mark.parametrize("kind", ["tensor", "numpy", "series"])
def test_group_2x2_gives_winogrounds_text_image_and_group_scores(kind):
    make = {"tensor": lambda v: torch.tensor(v, dtype=torch.float32), "numpy": np.array,
            "series": lambda v: pd.Series(v, dtype="float64")}[kind]
    columns = [make([s[k] for s, _ in GROUPS]) for k in range(4)]
    scores = protocols.group_2x2(*columns)
    assert [list(map(bool, v)) for v in (scores.text, scores.image, scores.group)] == [
        [v[k] for _, v in GROUPS] for k in range(3)]
    # BiVLC's four retrievals, which the text (I2T) and image (T2I) scores are made of
    assert list(map(bool, scores.i0_picks_c0)) == [True, False, True, False, True, True, False]
    assert list(map(bool, scores.i1_picks_c1)) == [True, False, True, True, True, True, False]
    assert list(map(bool, scores.c0_picks_i0)) == [True, False, True, True, True, False, False]
    assert list(map(bool, scores.c1_picks_i1)) == [True, False, True, True, False, True, False]


def test_similarities_2x2_pair_each_caption_with_each_image():
    c0, c1 = features([E0]), features([HALF])
    i0, i1 = features([HALF]), features([E1])
    assert [s.tolist() for s in protocols.similarities_2x2(c0, c1, i0, i1)] == [
        pytest.approx([0.6]), [0.0], pytest.approx([1.0]), pytest.approx([0.8])]


def test_blind_2x2_scores_the_captions_alone_and_is_wrong_on_every_item():
    items = pd.DataFrame({"sample_id": ["0", "1"], "correct": [True, True], "c0_i0": [0.9, 0.8],
                          "c0_i1": [0.1, 0.2], "c1_i0": [0.2, 0.1], "c1_i1": [0.7, 0.9], "ok": [True, True],
                          "caption_0": ["a red circle", "a blue square left of a red circle"],
                          "caption_1": ["a red circle left of a blue square", "a red circle"], "note": ["x", "y"]})
    out = protocols.blind_2x2(items, blind.Shorter(), lambda scores: {"correct": scores.group,
                                                                        "ok": scores.text | scores.image})
    assert out[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [[-3, -3, -8, -8], [-8, -8, -3, -3]]
    assert out["correct"].tolist() == out["ok"].tolist() == [False, False] and out["ok"].dtype == bool
    assert list(out.columns) == list(items.columns) and out["note"].tolist() == ["x", "y"]
    assert items["correct"].tolist() == [True, True]  # the items are not changed
