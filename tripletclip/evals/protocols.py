"""The protocols several benchmarks share, over encoded items: features already computed (`encode.images`,
`encode.texts`: L2-normalized, float32, so a dot product is the cosine similarity) or similarities made of them.
A benchmark's module keeps its reader (the file layout) and what its authors do differently; what they do alike is
written here once.

- Choose the caption among K (`choose_caption`, `choose`): one image, its true caption against K - 1 negative
  captions; right iff the true caption scores highest. SugarCrepe (Hsieh et al. 2023, RAIVNLab/sugar-crepe
  `main_eval.py`), VALSE (Parcalabescu et al. 2022), VL-CheckList (Zhao et al. 2022, `vl_checklist/evaluate.py`
  line 117) and ARO's relation and attribution sets (Yuksekgonul et al. 2023) count a tie wrong; ARO's order sets
  give it to the true caption, as ARO's argmax does (`ties`).
- Choose the image among K (`choose_image`): one caption, its true image against K - 1 negative images; the same
  rule with the roles swapped (the text-to-image benchmarks: SPEC's, EqBen, MMVP).
- The 2x2 group (`group_2x2`): two captions and two images, caption j true of image j only; Winoground's text, image
  and group scores (Thrush et al., CVPR 2022, arXiv 2204.03162, §3), which Cola (its accuracy is the image score)
  and BiVLC (I2T, T2I and group, and the four retrievals they are made of) compute too. `blind_2x2` scores such
  items with a text-only scorer of tripletclip.blind.

Every comparison is strict unless `ties` says otherwise. Comparing float32 scores, or the same values as float64
(`tolist()`, a table's columns), gives the same verdicts: the conversion is exact and keeps their order.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import torch

PAIRS = ((0, 0), (0, 1), (1, 0), (1, 1))  # (caption, image) of s(c0, i0), s(c0, i1), s(c1, i0), s(c1, i1)
TIES = ("wrong", "true")


def similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """s(a_n, b_n) for each row n: (N,) float32 from two (N, D) float32 feature matrices (or a (D,) row broadcast
    against the other); the cosine similarity when both are L2-normalized, as `encode`'s features are.

    The elementwise product summed row by row, not a matrix product: a matrix-vector product may round equal rows
    differently (its last rows take another code path), so a caption encoded twice, e.g. an ARO perturbation equal
    to the original, would not tie with itself. Summed so, a row's score depends on that row alone, whatever the
    other rows and however many: the same bits whether items are scored one by one or all at once."""
    return (a * b).sum(-1)


def _columns(features) -> list[torch.Tensor]:
    """K (N, D) feature matrices from a (N, K, D) tensor or a sequence of K (N, D) tensors."""
    if isinstance(features, torch.Tensor):
        if features.ndim != 3:
            raise ValueError(f"expected candidates' features (N, K, D), got a tensor of shape {tuple(features.shape)}")
        return [features[:, k] for k in range(features.shape[1])]
    return list(features)


def candidate_scores(anchor: torch.Tensor, candidates) -> torch.Tensor:
    """(N, K) float32: s(anchor_n, candidate_{n,k}), `similarity` of each anchor row (N, D) with each of its K
    candidates (`candidates`: (N, K, D), or a sequence of K (N, D) matrices); the true candidate is column 0.
    ValueError for fewer than two candidates."""
    columns = _columns(candidates)
    if len(columns) < 2:
        raise ValueError(f"expected a true candidate and at least one negative, got {len(columns)} candidate(s)")
    return torch.stack([similarity(anchor, c) for c in columns], dim=1)


class Choice(NamedTuple):
    """A choice among K candidates, N items."""
    scores: torch.Tensor  # (N, K): s(anchor, candidate k), the true candidate first
    correct: torch.Tensor  # (N,) bool: the true candidate won (`choose`'s `ties` says what a tie is)
    closest: torch.Tensor  # (N,) int64: which negative (0 .. K - 2) scored highest, the first of equal ones


def choose(scores, ties: str = "wrong") -> Choice:
    """The verdicts of a choice among K candidates from its scores, (N, K) (a tensor, or what `torch.as_tensor`
    takes), column 0 the true candidate's: right iff it scores above every negative.

    ties: "wrong" (strict: a negative that equals the true candidate's score wins; SugarCrepe, VALSE, VL-CheckList,
    ARO's relation and attribution: ARO takes the argmax over [false, true], a tie goes to false) or "true" (the
    first of equal scores wins, as `argmax` gives it: ARO's order sets, where a perturbation equal to the original
    leaves the original right). ValueError for another `ties`, or scores that are not (N, K >= 2)."""
    scores = torch.as_tensor(scores)
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"expected scores (N, K) with K >= 2 (the true candidate first), got {tuple(scores.shape)}")
    negatives = scores[:, 1:]
    if ties == "wrong":
        correct = scores[:, 0] > negatives.max(dim=1).values
    else:
        correct = scores.argmax(dim=1) == 0
    return Choice(scores, correct, negatives.argmax(dim=1))


def choose_caption(image_features: torch.Tensor, caption_features, ties: str = "wrong") -> Choice:
    """Choose the caption among K: each image (N, D) against its K captions (`caption_features`: (N, K, D), or K
    (N, D) matrices), the true caption first; right iff it scores above every negative caption (`choose`)."""
    return choose(candidate_scores(image_features, caption_features), ties)


def choose_image(caption_features: torch.Tensor, image_features, ties: str = "wrong") -> Choice:
    """Choose the image among K: each caption (N, D) against its K images (`image_features`: (N, K, D), or K (N, D)
    matrices), the true image first; right iff it scores above every negative image (`choose`)."""
    return choose(candidate_scores(caption_features, image_features), ties)


def similarities_2x2(caption_0, caption_1, image_0, image_1) -> tuple:
    """(s(c0, i0), s(c0, i1), s(c1, i0), s(c1, i1)), each (N,) float32, of four (N, D) feature matrices: item n's
    captions and images (`similarity`); in the order `group_2x2` takes them."""
    captions, images = (caption_0, caption_1), (image_0, image_1)
    return tuple(similarity(captions[j], images[k]) for j, k in PAIRS)


class Group(NamedTuple):
    """The verdicts on N 2x2 items, each (N,) bool, of the type `group_2x2` was given (tensor, array, Series)."""
    text: object  # each image picks its own caption: i0_picks_c0 and i1_picks_c1 (BiVLC's I2T)
    image: object  # each caption picks its own image: c0_picks_i0 and c1_picks_i1 (BiVLC's T2I; Cola's accuracy)
    group: object  # both
    i0_picks_c0: object  # s(c0, i0) > s(c1, i0) (BiVLC's Ipos_2T)
    i1_picks_c1: object  # s(c1, i1) > s(c0, i1) (Ineg_2T)
    c0_picks_i0: object  # s(c0, i0) > s(c0, i1) (Tpos_2I)
    c1_picks_i1: object  # s(c1, i1) > s(c1, i0) (Tneg_2I)


def group_2x2(c0_i0, c0_i1, c1_i0, c1_i1) -> Group:
    """Winoground's scores of N items of two captions and two images, caption j true of image j, from s(c_j, i_k) =
    `c{j}_i{k}` ((N,) tensors, arrays or Series, all of one kind). Thrush et al. 2022, §3: the text score is right
    iff s(c0, i0) > s(c1, i0) and s(c1, i1) > s(c0, i1), the image score iff s(c0, i0) > s(c0, i1) and
    s(c1, i1) > s(c1, i0), the group score iff both. Every comparison strict: a tie is wrong, as in Winoground's,
    Cola's (`scripts/eval.py` line 19) and BiVLC's (`CLIP_utils.py` lines 161-164) code."""
    i0_picks_c0, i1_picks_c1 = c0_i0 > c1_i0, c1_i1 > c0_i1
    c0_picks_i0, c1_picks_i1 = c0_i0 > c0_i1, c1_i1 > c1_i0
    text, image = i0_picks_c0 & i1_picks_c1, c0_picks_i0 & c1_picks_i1
    return Group(text, image, text & image, i0_picks_c0, i1_picks_c1, c0_picks_i0, c1_picks_i1)


def columns_2x2(text_features: torch.Tensor, image_features: torch.Tensor, caption_rows, image_rows) -> dict:
    """The per-sample columns of N 2x2 items from encoded features: `caption_rows` holds two lists of N rows of
    `text_features` (each item's caption 0, then caption 1), `image_rows` two of `image_features`. Returns
    {"c0_i0", "c0_i1", "c1_i0", "c1_i1": s(c_j, i_k) (`similarities_2x2`) as exact python floats (compared again
    as float64 they order the same way), "text_correct", "image_correct", "group_correct": `group_2x2`'s verdicts,
    lists of bool}, in that order: Winoground's, Cola's and ColorSwap's tables."""
    similarities = similarities_2x2(*(text_features[rows] for rows in caption_rows),
                                    *(image_features[rows] for rows in image_rows))
    group = group_2x2(*similarities)
    return {**{f"c{j}_i{k}": s.tolist() for (j, k), s in zip(PAIRS, similarities)},
            **{f"{k}_correct": getattr(group, k).tolist() for k in ("text", "image", "group")}}


def encode_2x2(model, preprocess, tokenizer, items: list[dict], batch_size: int = 256, device: str = "cpu",
               load: Callable | None = None, image_key: str = "path") -> dict:
    """`columns_2x2` of N 2x2 items read from files: each item a dict holding its two captions ("caption_0",
    "caption_1") and its two images ("{image_key}_0", "{image_key}_1": files, or whatever `load` opens; default
    `encode.open_rgb`); each distinct image and caption encoded once (`encode.images`, `encode.texts`), in
    first-seen order. The encoding of Cola, ColorSwap, MMVP-VLM, EqBen and VisMin."""
    from . import encode

    paths, image_row = encode.index([item[f"{image_key}_{k}"] for item in items for k in (0, 1)])
    captions, caption_row = encode.index([item[f"caption_{k}"] for item in items for k in (0, 1)])
    image_features = encode.images(model, preprocess, paths, batch_size, device, load=load or encode.open_rgb)
    text_features = encode.texts(model, tokenizer, captions, batch_size, device)
    return columns_2x2(text_features, image_features,
                       [[caption_row[item[f"caption_{j}"]] for item in items] for j in (0, 1)],
                       [[image_row[item[f"{image_key}_{k}"]] for item in items] for k in (0, 1)])


def group_verdicts(scores: Group) -> dict:
    """The verdict columns of a table whose `correct` is the group score (Winoground, ColorSwap, EqBen, VisMin),
    for `blind_2x2`."""
    return {"correct": scores.group, "text_correct": scores.text, "image_correct": scores.image,
            "group_correct": scores.group}


def blind_2x2(items: pd.DataFrame, scorer, verdicts: Callable[[Group], dict] = group_verdicts) -> pd.DataFrame:
    """A 2x2 benchmark's per-sample table `items` (columns caption_0, caption_1, c0_i0, c0_i1, c1_i0, c1_i1 and the
    verdict columns) scored by a text-only `scorer` of tripletclip.blind (`score(caption) -> float`), which gives a
    caption the same score against either image: s(c_j, i_k) = score(c_j) (float64). `verdicts(group)` names the
    benchmark's verdict columns, {column: the `Group` field it holds}; they are recomputed by `group_2x2`, every
    other column is kept, so the benchmark's `metrics_from_samples` gives the scorer's metrics.

    Such a scorer is wrong on every item, whatever it is: each caption ties with itself across the two images, so
    the image score fails, and the text score asks score(c0) > score(c1) and score(c1) > score(c0) at once. No tie
    is settled by a coin (as `blind.tie_break` settles a pair's): these benchmarks count a tie wrong. What the row
    shows is that the pairing (each caption right for one image, wrong for the other) leaves nothing for the text
    alone to find."""
    out = items.copy()
    first = np.array([float(scorer.score(c)) for c in items["caption_0"]])
    second = np.array([float(scorer.score(c)) for c in items["caption_1"]])
    out["c0_i0"], out["c0_i1"], out["c1_i0"], out["c1_i1"] = first, first, second, second
    for column, values in verdicts(group_2x2(first, first, second, second)).items():
        out[column] = values
    return out
