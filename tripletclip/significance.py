"""Is a difference between two models real? Paired tests on per-sample correctness.

Every evaluator writes, next to its metrics, a per-sample table with at least `category`, `sample_id` and `correct`
(bool). Two models evaluated on the same benchmark answered the same items, so their outcomes are *paired*: the
comparison is made item by item, which removes the between-item variance that two independent accuracies would
carry, and a difference a few points wide can then be told from noise.

Two tests, reported together:

- the paired bootstrap (Efron & Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall 1993, ch. 13 on
  percentile intervals): resample the items (pairs kept together), recompute the accuracy difference, take the
  percentile interval. Its use for comparing two systems on one test set follows Koehn, "Statistical significance
  tests for machine translation evaluation", EMNLP 2004, and Dror et al., "The hitchhiker's guide to testing
  statistical significance in natural language processing", ACL 2018. With several training seeds of both models
  the seeds are resampled too (a two-stage, hierarchical bootstrap), so the interval also holds the spread that a
  different seed would bring, not only the finite test set;
- McNemar's test (McNemar, "Note on the sampling error of the difference between correlated proportions or
  percentages", Psychometrika 12(2), 1947) in its exact binomial form: under the null the items one model gets right
  and the other wrong are as likely one way as the other, so their count is Binomial(discordant, 1/2).

`compare` runs both for every model against a baseline on every benchmark and category, reading the long table the
report assembles: columns model, seed, benchmark, category, sample_id, correct.

No ✓ from a degenerate interval. A difference holds (the report's ✓) only when its interval excludes 0, McNemar's p
is below 1 - confidence where it is defined, AND every stratum the bootstrap resamples holds at least `MIN_ITEMS` (2)
items: each category for SugarCrepe's stratified `avg`, the sample itself for any other row. A stratum of one item is
redrawn unchanged by every resample, so it adds nothing to the interval whatever its true spread: the bootstrap
variance of a stratum's mean of n_h items drawn with replacement is (n_h - 1)/n_h times the usual estimate s_h^2/n_h
(s_h^2 the unbiased sample variance), 0 at n_h = 1, where s_h^2 is undefined: the data cannot tell the spread of a
stratum of one (Davison & Hinkley, *Bootstrap Methods and their Application*, Cambridge 1997, ch. 3 on stratified
resampling, which warns that the stratified bootstrap is unreliable for very small strata; Bickel & Freedman,
"Asymptotic normality and the bootstrap in stratified sampling", Ann. Statist. 12(2), 1984: without rescaling the
naive stratified bootstrap fails). With one item per
SugarCrepe category the `avg` interval was a point (+14.29 [+14.29, +14.29] for one item won of seven, where McNemar
gives p = 1); with several seeds it is not even a point, only the seeds' spread, so the rule counts items rather than
testing for zero width. scipy.stats.bootstrap flags a point distribution alike (DegenerateDataWarning; BCa gives
nan). Such a row gets a `note` (`compare(notes=True)`, significance.csv) and no ✓.

Why 2, and what the rule does not catch: from two items on, the variance is estimable and the bootstrap understates it
by the factor (n_h - 1)/n_h: 1/2 at two items (an interval about 1/sqrt(2) as wide as it should be), under 3 % from 40
items on (SugarCrepe's categories hold hundreds to thousands). Two is where the stratum stops being degenerate; a
larger minimum would be a choice of how much small-sample bias to tolerate, and would also withdraw the ✓ of a
category of two items both won beside a large tied one, which the existing behaviour keeps. A zero-width interval over
strata of two items or more is NOT withheld: it says every item of each stratum (at every seed) had the same
difference, which is the data and not the design (16 items all won: [+100, +100], McNemar p = 3e-5). So with two
items per category a difference won on both items of one category and tied elsewhere still gets its ✓ on `avg`, a
point interval, while the `all` row beside it (McNemar p = 0.5) gets none. McNemar is not required of `avg`: it
tests the item-level (micro) accuracy, which weighs categories by their size, while `avg` is the unweighted mean of
the categories, and the two legitimately disagree when sizes differ (2 items won in a category of 2, 6 tied in
another: `avg` +50, the items +25, p = 0.5); the `all` row beside it carries McNemar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats
from statsmodels.stats.contingency_tables import mcnemar as _statsmodels_mcnemar

from .evals.registry import REGISTRY

COLUMNS = ["model", "seed", "benchmark", "category", "sample_id", "correct"]
RESULT_COLUMNS = ["model", "baseline", "benchmark", "category", "n_items", "n_seeds", "difference", "low", "high",
                  "p_value", "holds"]
ALL = "all"  # the row over every item of a benchmark (micro average)
# The fewest items a bootstrap stratum (a category of a macro average; the sample for any other row) must hold for
# its interval to carry a ✓: one item is redrawn unchanged by every resample (see the module's docstring).
MIN_ITEMS = 2
DEGENERATE = "interval degenerate"  # how a `note` withholding the ✓ begins
# The most resampled values held in memory at once by the hand-written draws (and by scipy through `batch`): the
# statistic of a resample needs one index per item, so 10,000 resamples of ImageNet's 50,000 items would be 4 GB.
_CELLS = 4_000_000


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a, b as float arrays of shape (items,) or (seeds, items); ValueError on a shape mismatch or empty input."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape (the same items, and seeds, of both models); "
                         f"got {a.shape} and {b.shape}")
    if a.ndim not in (1, 2):
        raise ValueError(f"a and b must have shape (items,) or (seeds, items); got {a.ndim} dimensions")
    if a.size == 0:
        raise ValueError(f"a and b are empty (shape {a.shape}): there is nothing to compare")
    return a, b


def _percentile_interval(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    # The same percentile definition (numpy's default, linear between order statistics) as scipy's
    # method="percentile", so the one-seed and the several-seed paths report intervals alike.
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def _check_confidence(confidence: float, resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1; got {resamples}")


def _two_stage(d: np.ndarray, strata: list[np.ndarray], resamples: int, seed: int) -> np.ndarray:
    """Bootstrap distribution (resamples,) of the mean over strata of the mean of d (seeds, items) over drawn seeds
    and drawn items of the stratum: seeds drawn with replacement, then, within each stratum, items drawn with
    replacement. One stratum holding every item is the plain two-stage draw.

    Items are crossed with seeds, not nested in them: every seed answered the same items, so one item draw serves
    all the seeds drawn in that resample. Drawing items anew for each seed would treat the benchmark as `seeds`
    independent test sets and shrink the item part of the interval by about sqrt(seeds)."""
    rng = np.random.default_rng(seed)
    n_seeds, n_items = d.shape
    batch = max(1, _CELLS // (n_seeds + n_items))
    out = np.empty(resamples)
    for start in range(0, resamples, batch):
        size = min(batch, resamples - start)
        drawn = rng.integers(0, n_seeds, size=(size, n_seeds))
        # How often each seed was drawn, (size, seeds), then the mean over the drawn seeds of each item's difference,
        # (size, items): a product rather than d[drawn], which would hold size x seeds x items values.
        counts = np.zeros((size, n_seeds))
        np.add.at(counts, (np.arange(size)[:, None], drawn), 1)
        per_item = counts @ d / n_seeds
        total = np.zeros(size)
        for items in strata:
            picks = items[rng.integers(0, len(items), size=(size, len(items)))]
            total += np.take_along_axis(per_item, picks, axis=1).mean(axis=1)
        out[start:start + size] = total / len(strata)
    return out


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 10_000, confidence: float = 0.95,
                     seed: int = 0) -> tuple[float, float, float]:
    """(difference, low, high) in accuracy points (x100) of mean(a) - mean(b), where a and b are 0/1 correctness of
    two models on the same items: the observed difference and its percentile bootstrap interval (Efron & Tibshirani
    1993; for comparing two systems on one test set, Koehn 2004, Dror et al. 2018).

    a, b: shape (items,) for one seed, or (seeds, items) for several seeds of both models (seed s of a paired with
    seed s of b: same init and data order). One seed: the items are resampled in pairs by
    scipy.stats.bootstrap(paired=True, method="percentile") (a well-kept library, not a hand-written resampler).
    Several seeds: BOTH levels are resampled, seeds with replacement, then items with replacement (a two-stage,
    hierarchical bootstrap, numpy.random.default_rng(seed)), the statistic being the mean over the drawn seeds and
    items of a - b; one item draw serves every drawn seed, since every seed answered the same items. Shape
    (1, items) is the one-seed case. The interval is the percentile interval at `confidence`.

    Reproducible for a given seed. ValueError on a shape mismatch or empty input."""
    a, b = _check_pair(a, b)
    _check_confidence(confidence, resamples)
    if a.ndim == 2 and a.shape[0] == 1:
        a, b = a[0], b[0]
    d = a - b
    difference = float(100 * d.mean())
    # Every item (and seed) with the same difference: each resample has that mean, the interval is a point. scipy
    # would warn on the degenerate distribution, and needs two items or more.
    if np.all(d == d.flat[0]):
        return difference, difference, difference
    if d.ndim == 2:
        stats = 100 * _two_stage(d, [np.arange(d.shape[1])], resamples, seed)
        return (difference, *_percentile_interval(stats, confidence))

    def statistic(x, y, axis):
        return 100 * np.mean(x - y, axis=axis)

    result = scipy.stats.bootstrap((a, b), statistic, paired=True, vectorized=True, method="percentile",
                                   confidence_level=confidence, n_resamples=resamples, random_state=seed,
                                   batch=max(1, _CELLS // len(a)))
    return difference, float(result.confidence_interval.low), float(result.confidence_interval.high)


def macro_bootstrap(a: np.ndarray, b: np.ndarray, categories: np.ndarray, resamples: int = 10_000,
                    confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(difference, low, high) in accuracy points (x100) of the macro accuracy difference: the mean over categories
    of each category's mean(a) - mean(b), as SugarCrepe's "avg" (the mean of its seven category accuracies, which
    weighs a category of 600 items like one of 2,000; it is not the item-level accuracy).

    a, b: 0/1 correctness of shape (items,) or (seeds, items), as for `paired_bootstrap`; categories: shape (items,),
    each item's category. The bootstrap is stratified (Efron & Tibshirani 1993, sec. 3.9 on stratified sampling):
    items are drawn with replacement within each category, so every resample keeps each category's size and the
    statistic stays a mean of the same categories; with several seeds the seeds are drawn first, as in
    `paired_bootstrap`. scipy's bootstrap does not stratify, hence numpy.random.default_rng(seed) here whatever the
    number of seeds. Reproducible for a given seed. ValueError on a shape mismatch or empty input."""
    a, b = _check_pair(a, b)
    _check_confidence(confidence, resamples)
    categories = np.asarray(categories)
    if categories.shape != (a.shape[-1],):
        raise ValueError(f"categories must give one category per item, shape ({a.shape[-1]},); "
                         f"got {categories.shape}")
    d = (a - b).reshape(-1, a.shape[-1])
    strata = [np.flatnonzero(categories == c) for c in pd.unique(categories)]
    difference = float(100 * np.mean([d[:, items].mean() for items in strata]))
    if np.all(d == d.flat[0]):
        return difference, difference, difference
    stats = 100 * _two_stage(d, strata, resamples, seed)
    return (difference, *_percentile_interval(stats, confidence))


def mcnemar(a: np.ndarray, b: np.ndarray) -> float:
    """Exact McNemar p-value (two-sided; McNemar 1947) for paired 0/1 outcomes of two models on the same items:
    statsmodels.stats.contingency_tables.mcnemar(table, exact=True).pvalue on the 2x2 table [[both right, only a
    right], [only b right, both wrong]], i.e. a two-sided binomial test of the discordant counts at 1/2. No
    discordant item gives 1.

    a, b: shape (items,), or (seeds, items) for several seeds paired row by row. Then the test is run on each
    seed's pairs and the LARGEST p-value is returned: a difference holds only if it holds at every seed. This is
    conservative on purpose (an intersection-union test: rejecting only when every seed rejects keeps the level
    without any multiplicity correction), and it matches the question asked of a training method, whether it beats
    the baseline whatever the seed, not whether one lucky seed does. ValueError on a shape mismatch or empty
    input."""
    a, b = _check_pair(a, b)
    a, b = a.reshape(-1, a.shape[-1]).astype(bool), b.reshape(-1, b.shape[-1]).astype(bool)
    p_values = []
    for x, y in zip(a, b):
        table = np.array([[np.sum(x & y), np.sum(x & ~y)], [np.sum(~x & y), np.sum(~x & ~y)]])
        p_values.append(float(_statsmodels_mcnemar(table, exact=True).pvalue))
    return max(p_values)


def degenerate_note(sizes, stratified: bool = False) -> str:
    """Why a row's interval can carry no ✓, or "" when it can: `sizes`, the number of items of each stratum the
    bootstrap resamples (one size, the sample's, unless `stratified`); the note when one holds fewer than
    `MIN_ITEMS`, e.g. "interval degenerate: a category has fewer than 2 items (1)". See the module's docstring."""
    smallest = int(min(sizes))
    if smallest >= MIN_ITEMS:
        return ""
    where = "a category has" if stratified else "the sample has"
    return f"{DEGENERATE}: {where} fewer than {MIN_ITEMS} items ({smallest}), which every resample redraws unchanged"


def _outcomes(part: pd.DataFrame, model: str, benchmark: str) -> pd.DataFrame:
    """One model's outcomes on one benchmark: items (benchmark rows indexed by category, sample_id) x seeds (columns,
    -1 for a model evaluated as given), 0/1; only items answered at every seed."""
    seeds = part["seed"]
    if seeds.isna().any() and seeds.notna().any():
        raise ValueError(f"{model} on {benchmark} has rows both with and without a seed; a trained method has a seed "
                         f"on every row, a model evaluated as given on none")
    part = part.assign(seed=seeds.fillna(-1).astype(int))
    keys = ["seed", "category", "sample_id"]
    duplicated = part.duplicated(keys)
    if duplicated.any():
        first = part.loc[duplicated, keys].iloc[0].to_dict()
        raise ValueError(f"{model} on {benchmark} has {int(duplicated.sum())} duplicated items (model, seed, "
                         f"benchmark, category, sample_id); the first: {first}")
    table = part.pivot(index=["category", "sample_id"], columns="seed", values="correct")
    return table.dropna().astype(int)


def _pair(model: pd.DataFrame, base: pd.DataFrame, name: str, baseline: str, benchmark: str):
    """(a, b, categories, n_seeds): the two models' outcomes on their shared items, a and b (seeds, items) with seeds
    paired by number, or the side evaluated as given (column -1) repeated against every seed of the other."""
    model_seeds, base_seeds = list(model.columns), list(base.columns)
    if model_seeds == [-1] or base_seeds == [-1]:
        seeds = base_seeds if model_seeds == [-1] else model_seeds
        model_cols = [-1] * len(seeds) if model_seeds == [-1] else seeds
        base_cols = [-1] * len(seeds) if base_seeds == [-1] else seeds
    else:
        seeds = sorted(set(model_seeds) & set(base_seeds))
        if not seeds:
            raise ValueError(f"{name} (seeds {model_seeds}) and {baseline} (seeds {base_seeds}) share no seed on "
                             f"{benchmark}: seeds are paired by number")
        model_cols = base_cols = seeds
    items = model.index.intersection(base.index, sort=False)
    a = model.loc[items, model_cols].to_numpy().T
    b = base.loc[items, base_cols].to_numpy().T
    return a, b, items.get_level_values("category").to_numpy(), len(seeds)


def compare(samples: pd.DataFrame, baseline: str, resamples: int = 10_000, confidence: float = 0.95,
            seed: int = 0, notes: bool = False) -> pd.DataFrame:
    """Every model against `baseline` on every benchmark and category, and on each benchmark's overall accuracy.

    samples: the per-sample tables of every run, stacked, with columns model (str: a method name or a `models:`
    key), seed (Int64, <NA> for a model evaluated as given), benchmark, category, sample_id, correct (bool). Rows
    where `correct` is missing (NaN, e.g. a similarity benchmark, which has no right answer) are skipped.

    Items are matched by (benchmark, category, sample_id); only items both models answered (at every seed) are
    compared, and a benchmark either lacks yields no rows. Seeds of the two sides are paired by seed number when
    both have seeds (ValueError when they share none); a side without seeds (one evaluation) is broadcast against
    each seed of the other.

    Returns one row per (model, benchmark, category), models in their order of appearance, with columns model,
    baseline, benchmark, category, n_items, n_seeds (paired seeds; 1 when neither side has any), difference, low,
    high (accuracy points, x100: model minus baseline and its `confidence` interval, `paired_bootstrap`), p_value
    (exact McNemar, the largest over seeds, `mcnemar`; NaN where not defined) and holds (bool: the interval
    excludes 0 AND p_value < 1 - confidence, on a row without a p-value the interval alone, AND the interval is not
    degenerate: every stratum it resamples, each category for `avg`, the row's items otherwise, holds at least
    `MIN_ITEMS` items; the rule and its sources: the module's docstring). With notes=True a last column, note (str):
    `degenerate_note`, "" on a row whose interval is a real one. Category "all" is the
    whole benchmark, micro-averaged over its items. SugarCrepe's headline "avg" is the mean of its category
    accuracies (macro), so benchmark "sugarcrepe" also gets category "avg": the mean over categories of the
    per-category difference, bootstrapped by resampling items within each category (`macro_bootstrap`); McNemar
    tests item-level outcomes, not a mean of category accuracies, so its p_value is NaN.

    ValueError when a column is missing, when `baseline` is not among the models (naming those present), or on
    duplicated items."""
    missing = [c for c in COLUMNS if c not in samples.columns]
    if missing:
        raise ValueError(f"samples lacks the column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    models = list(pd.unique(samples["model"]))
    if baseline not in models:
        raise ValueError(f"baseline {baseline!r} is not in samples: its models are {', '.join(map(str, models))}")
    samples = samples.loc[samples["correct"].notna(), COLUMNS]
    wrong = ~samples["correct"].isin([0, 1])
    if wrong.any():
        raise ValueError(f"correct must be a bool (or 0/1); got {samples.loc[wrong, 'correct'].iloc[0]!r}")
    samples = samples.assign(correct=samples["correct"].astype(bool).astype(int))

    rows, row_notes = [], []
    for benchmark, part in samples.groupby("benchmark", sort=False):
        # the category of a headline that is the mean of the category accuracies (the registry entry's `macro`)
        macro = REGISTRY[benchmark].macro if benchmark in REGISTRY else None
        reserved = {ALL, macro} & set(part["category"])
        if reserved:
            raise ValueError(f"{benchmark} has a category named {sorted(reserved)[0]!r}, the name of its summary row")
        by_model = dict(tuple(part.groupby("model", sort=False)))
        if baseline not in by_model:
            continue
        base = _outcomes(by_model[baseline], baseline, benchmark)
        for name in models:
            if name == baseline or name not in by_model:
                continue
            a, b, categories, n_seeds = _pair(_outcomes(by_model[name], name, benchmark), base, name, baseline,
                                              benchmark)
            if a.shape[1] == 0:
                continue
            if n_seeds == 1:
                a, b = a[0], b[0]
            # Each category, then the whole benchmark, then (SugarCrepe) the macro average.
            groups = [(c, categories == c) for c in pd.unique(categories)] + [(ALL, np.ones(len(categories), bool))]
            for category, mask in groups:
                difference, low, high = paired_bootstrap(a[..., mask], b[..., mask], resamples, confidence, seed)
                rows.append([name, baseline, benchmark, category, int(mask.sum()), n_seeds, difference, low, high,
                             mcnemar(a[..., mask], b[..., mask])])
                row_notes.append(degenerate_note([mask.sum()]))
            if macro:
                difference, low, high = macro_bootstrap(a, b, categories, resamples, confidence, seed)
                rows.append([name, baseline, benchmark, macro, len(categories), n_seeds, difference, low, high,
                             np.nan])
                row_notes.append(degenerate_note(pd.Series(categories).value_counts(), stratified=True))
    result = pd.DataFrame(rows, columns=RESULT_COLUMNS[:-1])
    result = result.astype({"n_items": int, "n_seeds": int, "difference": float, "low": float, "high": float,
                            "p_value": float})
    excludes_zero = (result["low"] > 0) | (result["high"] < 0)
    significant = result["p_value"].isna() | (result["p_value"] < 1 - confidence)
    real = pd.Series([not note for note in row_notes], index=result.index, dtype=bool)
    result["holds"] = (excludes_zero & significant & real).astype(bool)
    if notes:
        result["note"] = pd.Series(row_notes, index=result.index, dtype=object)
    return result
