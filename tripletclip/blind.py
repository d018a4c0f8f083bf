"""Blind scorers: judges of a (caption, negative caption) pair that never see the image.

A benchmark of hard negatives measures vision only if the text alone does not give the answer away. Hsieh et al.
(SugarCrepe, NeurIPS 2023, arXiv 2306.14610) showed that the earlier ones (ARO, CREPE) do: a text-only model that
never sees the image does as well as CLIP-like models or better on many of their subsets, because the generated
negatives are less plausible or less grammatical than the human captions. SugarCrepe removed such tells by
adversarial refinement: candidate negatives were scored by two text-only models (Vera, a commonsense plausibility
model, and a grammar model) and kept so that the distribution of the two models' score gaps (positive minus
negative) is symmetric about zero (RAIVNLab/sugar-crepe, `adversarial_refine.py`), which leaves blind models near
chance.

Here the text-only judges are the tells the shapes world's own negatives could carry, each `score(caption) -> float`
(higher: judged the positive, the more plausible caption):

- `Shorter`: the shorter caption (an add_* negative is longer than its positive);
- `Frequent`: the caption of more frequent words in the training captions (unigram statistics, the simplest model
  of "what captions usually say");
- `Ngram`: a trigram language model of the training captions (nltk.lm), the stand-in for Vera and the grammar
  model: it prefers the caption whose word order and word pairs are more like those of training, e.g. a colour-shape
  combination it has seen over a held-out one;
- `Novel`: the caption with more word pairs never seen in training. A benchmark built from held-out combinations
  has this tell of its own: its positives always name a combination training never showed, its negatives (a swap,
  a replaced shape) often do not, so "prefer the novel caption" wins without the image.

`blind_samples` scores a table of pairs with them as the report's per-sample tables are (`correct`: the scorer
prefers the positive), and `training_captions` draws the captions they are fitted on. Nothing is downloaded:
tokens come from a regular expression, not from NLTK's tokenizers or corpora.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections import Counter
from typing import Iterable, Protocol

import numpy as np
import pandas as pd

from . import shapes, world

# words, and each punctuation mark as a token of its own ("square," -> "square", ",")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
COLUMNS = ("model", "category", "sample_id", "score_positive", "score_negative", "correct")


def tokens(caption: str) -> list[str]:
    """Lower-cased words and punctuation marks of `caption`."""
    return _TOKEN.findall(caption.lower())


def words(caption: str) -> list[str]:
    """The words of `caption` (its tokens less punctuation)."""
    return [t for t in tokens(caption) if t[0].isalnum()]


class Scorer(Protocol):
    def score(self, caption: str) -> float: ...


class Shorter:
    """Prefers the shorter caption: score = -(number of words). The blind rule that solves a benchmark whose
    negatives add words (SugarCrepe's add_obj / add_att before refinement; "prefer the caption with fewer objects"
    or "fewer 'hollow'" in the shapes world). Two captions of as many words tie (see `blind_samples`)."""

    def score(self, caption: str) -> float:
        return -float(len(words(caption)))


class Frequent:
    """Prefers the caption whose words are more frequent in the training captions: score = the mean over its words
    of log P(word), the unigram probability with add-one (Laplace) smoothing, (count + 1) / (total + V + 1) for a
    vocabulary of V words plus one for every unseen word. The mean, not the sum: a longer caption is not penalised
    for its length (that is `Shorter`'s tell). A blind model of word-level plausibility: negatives that bring in a
    word the captions rarely use are told apart by it. Fit with `Frequent.fit(captions)`."""

    def __init__(self, counts: Counter):
        self.counts = counts
        self.total = sum(counts.values())
        self.denominator = self.total + len(counts) + 1
        self._cache: dict[str, float] = {}

    @classmethod
    def fit(cls, captions: Iterable[str]) -> "Frequent":
        return cls(Counter(w for c in captions for w in words(c)))

    def score(self, caption: str) -> float:
        if caption not in self._cache:
            ws = words(caption) or [""]
            self._cache[caption] = sum(math.log((self.counts.get(w, 0) + 1) / self.denominator) for w in ws) / len(ws)
        return self._cache[caption]


class Ngram:
    """A language model of caption plausibility fitted on training captions only: NLTK's `nltk.lm`
    `WittenBellInterpolated` of order 3 (trigrams interpolated with bigrams and unigrams, Witten-Bell smoothing),
    trained on `padded_everygram_pipeline` (each caption padded with <s> and </s>). The text-only stand-in for
    SugarCrepe's plausibility (Vera) and grammar models: it scores how much a caption's word order and word pairs
    are like those of training, so it prefers a seen colour-shape pair over a held-out one, a frequent phrasing
    over a rare one, and a caption in the world's grammar over one out of it.

    Score: the mean log2-probability per token, each word and punctuation mark and the closing </s> each given its
    two predecessors. The mean, not the sum (the caption's log-probability): a sum falls with every token, so it
    would mostly reward short captions, which is `Shorter`'s tell, not plausibility. A token the model gives
    probability zero (a word never seen in training) is floored at log2(0.5 / the number of training tokens).

    Why Witten-Bell: it needs no discount to tune, backs off to lower orders for unseen trigrams (every held-out
    combination is one) and is cheap to query. nltk.lm's `KneserNeyInterpolated` gives near the same ranking but
    computes continuation counts by scanning the count tables on every query: ~1.6 ms a caption against ~0.27 ms
    here, measured on 3,000 training captions, too slow for the thousands of candidates a build scores. Both are
    pure Python; scores are cached per (context, token) and per caption, as the world's vocabulary is small."""

    def __init__(self, model, order: int, floor: float):
        self.model, self.order, self.floor = model, order, floor
        self._token_cache: dict[tuple, float] = {}
        self._cache: dict[str, float] = {}

    @classmethod
    def fit(cls, captions: Iterable[str], order: int = 3) -> "Ngram":
        from nltk.lm import WittenBellInterpolated
        from nltk.lm.preprocessing import padded_everygram_pipeline

        texts = [tokens(c) for c in captions]
        model = WittenBellInterpolated(order)
        train, vocab = padded_everygram_pipeline(order, texts)
        model.fit(train, vocab)
        count = sum(len(t) + 1 for t in texts)  # tokens and </s>
        return cls(model, order, math.log2(0.5 / max(count, 1)))

    def _logscore(self, token: str, context: tuple[str, ...]) -> float:
        key = (context, token)
        if key not in self._token_cache:
            value = self.model.logscore(token, context)
            self._token_cache[key] = value if math.isfinite(value) else self.floor
        return self._token_cache[key]

    def score(self, caption: str) -> float:
        if caption not in self._cache:
            padded = ["<s>"] * (self.order - 1) + tokens(caption) + ["</s>"]
            logs = [self._logscore(padded[i], tuple(padded[i - self.order + 1:i]))
                    for i in range(self.order - 1, len(padded))]
            self._cache[caption] = sum(logs) / len(logs)
        return self._cache[caption]


class Novel:
    """Prefers the caption that names more of what training never said: score = the number of its word bigrams
    (adjacent word pairs, punctuation left out) that occur in no training caption. In the shapes world these are the
    held-out colour-shape pairs ("red circle"), which every test-split positive names and which a negative loses
    when it swaps or replaces that object. The sign is the one that wins on such a benchmark (the opposite of
    `Ngram`'s plausibility); a count, so two captions often tie (see `blind_samples`). Fit with
    `Novel.fit(captions)`."""

    def __init__(self, bigrams: set[tuple[str, str]]):
        self.bigrams = bigrams

    @classmethod
    def fit(cls, captions: Iterable[str]) -> "Novel":
        return cls({pair for c in captions for pair in _bigrams(words(c))})

    def score(self, caption: str) -> float:
        return float(sum(pair not in self.bigrams for pair in _bigrams(words(caption))))


def _bigrams(ws: list[str]) -> zip:
    return zip(ws, ws[1:])


def fit_scorers(captions: Iterable[str]) -> dict[str, Scorer]:
    """The blind scorers keyed by name, "shorter", "frequent", "ngram" and "novel", the last three fitted on
    `captions` (the training captions: `training_captions`)."""
    captions = list(captions)
    return {"shorter": Shorter(), "frequent": Frequent.fit(captions), "ngram": Ngram.fit(captions),
            "novel": Novel.fit(captions)}


def model_name(name: str) -> str:
    """The `model` column's value for a scorer keyed `name`: "blind-" + name (kept as it is when it starts so)."""
    return name if name.startswith("blind-") else f"blind-{name}"


def tie_break(model: str, caption: str, negative_caption: str, tied: int = 2) -> bool:
    """The draw that settles a tie among `tied` equal best scores, the true caption's one of them: right with
    probability 1 / tied (a coin for a pair), as a blind guess among them is. Seeded by the scorer's model name
    and the true and the first tied negative caption only, so the same item gets the same answer in any table, in
    any order, when the benchmark is built and when it is reported."""
    return shapes.keyed_rng("blind-tie", model, caption, negative_caption).random() < 1 / tied


def blind_samples(pairs: pd.DataFrame, scorers: dict[str, Scorer]) -> pd.DataFrame:
    """One row per (scorer, pair) of `pairs` (columns category, sample_id, caption, negative_caption), scorers in
    the dict's order and pairs in the table's: columns `COLUMNS`. model: `model_name(key)`; score_positive /
    score_negative: the scorer's score of the caption / the negative caption; correct (bool): score_positive >
    score_negative, and on an exact tie (e.g. `Shorter` on captions of as many words) a fair coin flip of the
    pair's own (`tie_break`): a tie is half right on average, as a blind guess is, while `correct` stays a bool
    like every model's."""
    rows = []
    for name, scorer in scorers.items():
        model = model_name(name)
        for category, sample_id, caption, negative in zip(pairs["category"], pairs["sample_id"], pairs["caption"],
                                                          pairs["negative_caption"]):
            p, n = float(scorer.score(caption)), float(scorer.score(negative))
            correct = p > n if p != n else tie_break(model, caption, negative)
            rows.append({"model": model, "category": category, "sample_id": str(sample_id), "score_positive": p,
                         "score_negative": n, "correct": bool(correct)})
    return pd.DataFrame(rows, columns=COLUMNS)


def accuracy(samples: pd.DataFrame) -> dict[str, dict[str, float]]:
    """{model: {category: accuracy %}} of a `blind_samples` table, models and categories in the table's order."""
    out: dict[str, dict[str, float]] = {}
    for (model, category), correct in samples.groupby(["model", "category"], sort=False)["correct"]:
        out.setdefault(model, {})[category] = 100 * int(correct.sum()) / len(correct)
    return out


def training_captions(world_cfg: dict, seed: int, count: int) -> list[str]:
    """The first `count` captions of the shapes world's training source (`world._train_scenes`, stream "source",
    with the config's world block: held-out combinations, hollow and third-object rates, colour bias): the very
    captions a run on `source: shapes` trains on, for fitting the blind scorers. No held-out combination occurs."""
    scenes = world._train_scenes(count, seed, "source", world_cfg["heldout_combos"], world_cfg["hollow_rate"],
                                 world_cfg.get("third_object_rate", 0.0), world_cfg.get("colour_bias", 0.0))
    return [shapes.describe(scene, phrasing) for scene, phrasing in scenes]


_GAP_BINS = 3  # into how many quantile bins `balance` cuts a continuous scorer's gap


def balance(candidates: list[tuple], category: str, scorers: dict[str, Scorer], n: int) -> tuple[list[int], int]:
    """Adversarial refinement of a two-way benchmark's candidates, after SugarCrepe's (`adversarial_refine.py`, see
    the module docstring): keep `n` so that every blind scorer is right on half of them.

    candidates: tuples (scene, anything, caption, negative caption, ...); two candidates of the same scene (any
    hashable id, e.g. the image's index) are never both kept, so a sample's image is its own. Each gets a key: per
    scorer of `scorers` (`fit_scorers`), which caption it prefers (an exact tie: `tie_break`'s coin, as
    `blind_samples` settles it) and by how much (a count's exact gap, e.g. `Shorter`'s word-count difference; a
    continuous score's gap in `_GAP_BINS` quantile bins over the candidates). Candidates are taken in order and
    kept only in pairs of mirrored keys, each scorer preferring the other caption by as much, from two different
    scenes; what is still missing (an odd last one, or candidates that cannot be paired) is filled greedily with
    the candidate that unbalances the scorers and the word counts least.

    Returns (the indices of the kept candidates, ascending, `n` of them or fewer when there are not as many scenes;
    how many of them were kept as mirrored pairs: all but one of an odd `n` when the refinement succeeded)."""
    pairs = pd.DataFrame({"category": category, "sample_id": range(len(candidates)),
                          "caption": [c[2] for c in candidates], "negative_caption": [c[3] for c in candidates]})
    table = blind_samples(pairs, scorers)
    keys, signs = [], []
    for _, rows in table.groupby("model", sort=False):
        gap = (rows["score_positive"] - rows["score_negative"]).to_numpy()
        sign = np.where(rows["correct"].to_numpy(), 1, -1)
        size = np.abs(gap)
        values = np.unique(size[gap != 0])
        if len(values) > 2 * _GAP_BINS:  # a continuous score: its gap's quantile bin
            edges = np.quantile(size[gap != 0], np.linspace(0, 1, _GAP_BINS + 1)[1:-1])
            bins = np.searchsorted(edges, size) + 2
        else:  # a count: its exact gap
            bins = np.searchsorted(values, size) + 2
        bins[gap == 0] = 1
        keys.append(sign * bins)
        signs.append(sign)
    keys = [tuple(k) for k in np.array(keys).T.tolist()]
    scene = [c[0] for c in candidates]
    waiting: dict[tuple, list[int]] = {}
    taken: set[int] = set()
    chosen: list[int] = []
    for i, key in enumerate(keys):
        if len(chosen) >= n - n % 2:
            break
        if scene[i] in taken:
            continue
        queue = waiting.setdefault(tuple(-k for k in key), [])
        queue[:] = [j for j in queue if scene[j] not in taken]
        match = next((j for j in queue if scene[j] != scene[i]), None)
        if match is None:
            waiting.setdefault(key, []).append(i)
        else:
            queue.remove(match)
            chosen += [match, i]
            taken |= {scene[i], scene[match]}
    paired = len(chosen)
    # the rest (an odd last sample, or a category that cannot be balanced): the candidate that unbalances least
    signs = np.array(signs).T
    extra_words = np.array([len(words(c[2])) - len(words(c[3])) for c in candidates])
    total, gap = signs[chosen].sum(axis=0), int(extra_words[chosen].sum())
    while len(chosen) < n:
        free = np.array([i for i in range(len(candidates)) if scene[i] not in taken], dtype=int)
        if not len(free):
            break
        cost = ((total + signs[free]) ** 2).sum(axis=1) + (gap + extra_words[free]) ** 2
        i = int(free[np.argmin(cost)])
        chosen.append(i)
        taken.add(scene[i])
        total, gap = total + signs[i], gap + int(extra_words[i])
    return sorted(chosen), paired


# How a shapes analogue is refined (`balanced`): on how many training captions the blind scorers are fitted, and how
# many test scenes per sample are searched (doubled up to POOL_MAX while a category falls short).
BUILD_CAPTIONS = 3000
POOL, POOL_MAX = 10, 40


def balanced(stream, pool: list, make, category: str, scorers: dict[str, Scorer], n: int, what: str) -> list[tuple]:
    """The `n` candidates of `category` that `balance` keeps, for a shapes analogue's build: the candidates of
    `POOL` test scenes per sample, doubled up to `POOL_MAX` while the category falls short of mirrored pairs.

    stream: the analogue's test scenes (`world.test_scenes`); pool: the scenes drawn from it so far, extended in
    place (shared by the categories, so that they share images); make(scene, idx, category): that scene's
    candidates, tuples (idx, scene, caption, negative caption, ...). A category that cannot be balanced is filled
    with the candidates that unbalance least, with a warning naming `what` (the benchmark)."""
    size = POOL * n
    while True:
        pool += itertools.islice(stream, max(0, size - len(pool)))
        candidates = [c for idx in range(size) for c in make(pool[idx], idx, category)]
        chosen, paired = balance(candidates, category, scorers, n)
        if paired >= n - n % 2 or size >= POOL_MAX * n:
            break
        size *= 2
    if paired < n - n % 2:
        logging.getLogger(__name__).warning(
            "%s shapes %s: the blind scorers could be balanced on %d of %d samples; the rest are the candidates that "
            "unbalance them least (blind.json has their accuracies)", what, category, paired, n)
    return [candidates[i] for i in chosen]


def build_report(pairs: pd.DataFrame, scorers: dict[str, Scorer]) -> dict:
    """`blind.json`'s content for a built analogue: {"accuracy": {model: {category: %}} of each of `scorers` on
    `pairs` (columns category, sample_id, caption, negative_caption; `blind_samples`, `accuracy`), "mean_words":
    {category: {"caption", "negative_caption": mean words}}, "training_captions": BUILD_CAPTIONS}."""
    return {"accuracy": accuracy(blind_samples(pairs, scorers)),
            "mean_words": {c: {field: float(rows[field].map(lambda s: len(words(s))).mean())
                               for field in ("caption", "negative_caption")}
                           for c, rows in pairs.groupby("category", sort=False)},
            "training_captions": BUILD_CAPTIONS}



def score_items(items: pd.DataFrame, scorer: Scorer, model: str) -> pd.DataFrame:
    """A model's per-sample table of a two-way benchmark (tripletclip/evals: SugarCrepe's or ARO's) with its scores and
    verdicts replaced by `scorer`'s, which reads only the captions: every other column (category, group, kind, ...)
    stays, so the benchmark's own `metrics_from_samples` gives the blind scorer's metrics. Against several false
    captions (ARO's `negative_captions`, What'sUp's) the positive must outscore the best of them; a tie among the
    best is settled by `tie_break`, right with probability one over the number tied, as in `blind_samples`."""
    out = items.copy()
    negatives = (items["negative_captions"] if "negative_captions" in items else items["negative_caption"].map(
        lambda caption: [caption]))
    positive = [float(scorer.score(caption)) for caption in items["caption"]]
    scores = [[float(scorer.score(c)) for c in negatives_of] for negatives_of in negatives]
    best = [negatives_of[int(np.argmax(s))] for negatives_of, s in zip(negatives, scores)]  # the first of the best
    negative = [max(s) for s in scores]
    out["score_positive"], out["score_negative"], out["negative_caption"] = positive, negative, best
    out["correct"] = [p > n if p != n else tie_break(model, caption, worst, 1 + s.count(n))
                      for p, n, s, caption, worst in zip(positive, negative, scores, items["caption"], best)]
    if "scores_negative" in items:
        out["scores_negative"] = scores
    return out


def shard_captions(shards: list[str], count: int) -> list[str]:
    """The first `count` captions of training shards (ours: txt; TripletData's: caption), for fitting the scorers on
    what the run trained on."""
    from . import io

    captions = []
    for shard in shards:
        for sample in io.iter_shard(shard):
            caption = sample.get("txt", sample.get("caption"))
            if caption:
                captions.append(caption.decode("utf-8", errors="replace").strip())
            if len(captions) >= count:
                return captions
    return captions


def evaluate(benchmark: str, items: pd.DataFrame, captions: list[str]) -> dict[str, tuple[dict, pd.DataFrame]]:
    """{model name: (metrics, per-sample table)} of every blind scorer on one benchmark's items, scored by the
    benchmark's own `metrics_from_samples`. The items are a model's per-sample table; a scorer's verdicts replace
    the model's through the benchmark module's `score_blind(items, scorer, model) -> table` where it has one (a
    benchmark of several captions or images per item: Winoground's, where a text-only s(c, i) = score(c)), else
    `score_items` (a caption against its negative captions). With training `captions` all of `fit_scorers`; without
    (an evaluation-only run has none of its own) only `Shorter`, which needs none."""
    from .evals import module

    scorers = fit_scorers(captions) if captions else {"shorter": Shorter()}
    evaluator = module(benchmark)
    # a benchmark whose items are not (caption, negative caption) pairs scores them its own way
    score = getattr(evaluator, "score_blind", score_items)
    out = {}
    for name, scorer in scorers.items():
        model = model_name(name)
        table = score(items, scorer, model)
        out[model] = (evaluator.metrics_from_samples(table), table)
    return out
