"""Paired significance (tripletclip.significance) on hand-built cases whose answers are known: McNemar against the
binomial test it reduces to, the bootstrap intervals against the exact bootstrap distribution (every resample
enumerated), and compare() on a small long table of methods, seeds and a model evaluated as given."""

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from tripletclip.significance import MIN_ITEMS, compare, degenerate_note, macro_bootstrap, mcnemar, paired_bootstrap

CONFIDENCE = 0.95
TAILS = [(1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2]


def exact_interval(values: np.ndarray) -> tuple[float, float]:
    """The percentile interval of an enumerated (equally weighted) bootstrap distribution, in points.

    Asserts first that no atom of the distribution has its cumulative probability within .005 of a tail: a Monte
    Carlo percentile from 100,000 resamples (its empirical CDF off by ~.0005) then lands on the same atom, so the
    function's interval must equal this one, not merely come close."""
    atoms, counts = np.unique(values, return_counts=True)
    cdf = np.cumsum(counts) / len(values)
    for tail in TAILS:
        assert np.min(np.abs(cdf - tail)) > 0.005, "the case puts an atom at a tail: pick another"
    low, high = np.percentile(100 * values, [100 * t for t in TAILS])
    return low, high


# ---------------------------------------------------------------------------------------------------------------
# McNemar


def outcomes(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcomes of two models with the given 2x2 table."""
    a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
    b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
    return np.array(a), np.array(b)


def test_mcnemar_is_the_exact_binomial_test_on_the_discordant_pairs():
    # 7 items only a gets right, 2 only b: under the null the 9 discordant items split Binomial(9, 1/2). The
    # concordant items (5 both right, 4 both wrong) carry no information and must not change the p-value.
    a, b = outcomes(both=5, only_a=7, only_b=2, neither=4)
    expected = scipy.stats.binomtest(2, 9, 0.5).pvalue
    assert mcnemar(a, b) == pytest.approx(expected, abs=1e-12)
    assert mcnemar(b, a) == pytest.approx(expected, abs=1e-12)
    assert mcnemar(*outcomes(both=0, only_a=7, only_b=2, neither=0)) == pytest.approx(expected, abs=1e-12)
    # 2 * (1 + 9 + 36) / 2**9, by hand
    assert expected == pytest.approx(92 / 512)


def test_mcnemar_identical_models_give_one_and_several_seeds_give_the_largest():
    a, b = outcomes(both=5, only_a=7, only_b=2, neither=4)
    assert mcnemar(a, a) == 1.0
    clear_a, clear_b = outcomes(both=5, only_a=9, only_b=0, neither=4)
    assert mcnemar(clear_a, clear_b) == pytest.approx(2 / 2**9)
    # seed 0 is clear-cut, seed 1 is not: the difference must hold at every seed, so the larger p-value
    assert mcnemar(np.stack([clear_a, a]), np.stack([clear_b, b])) == pytest.approx(92 / 512)


# ---------------------------------------------------------------------------------------------------------------
# Bootstrap, one seed

# differences a - b = [1, 0, 1, -1]: 25 points
A = np.array([1, 1, 1, 0])
B = np.array([0, 1, 0, 1])


def test_one_seed_interval_is_the_exact_bootstrap_percentile_interval():
    d = A - B
    # all 4**4 resamples of the 4 items, equally likely
    values = np.array([d[list(draw)].mean() for draw in itertools.product(range(4), repeat=4)])
    low, high = exact_interval(values)
    assert (low, high) == (-50.0, 100.0)
    difference, got_low, got_high = paired_bootstrap(A, B, resamples=100_000, confidence=CONFIDENCE)
    assert difference == 25.0
    assert got_low == pytest.approx(low, abs=1e-9)
    assert got_high == pytest.approx(high, abs=1e-9)


def test_bootstrap_is_reproducible_for_a_seed():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    first = paired_bootstrap(a, b, resamples=999, seed=3)
    assert paired_bootstrap(a, b, resamples=999, seed=3) == first
    # another seed draws other resamples: the point estimate stays, the interval may move
    others = {paired_bootstrap(a, b, resamples=999, seed=s) for s in range(4, 9)}
    assert {o[0] for o in others} == {first[0]}
    assert len(others | {first}) > 1
    assert first[0] == pytest.approx(100 * (a.mean() - b.mean()))


def test_identical_outcomes_give_a_point_interval_and_a_single_item_works():
    assert paired_bootstrap(A, A) == (0.0, 0.0, 0.0)
    assert paired_bootstrap(np.ones(5), np.zeros(5)) == (100.0, 100.0, 100.0)
    assert paired_bootstrap(np.array([1]), np.array([0])) == (100.0, 100.0, 100.0)


@pytest.mark.parametrize("a, b", [(np.ones(3), np.ones(4)), (np.ones((2, 3)), np.ones((3, 3))),
                                  (np.ones(3), np.ones((1, 3))), (np.array([]), np.array([])),
                                  (np.ones((2, 0)), np.ones((2, 0))), (np.ones((1, 2, 3)), np.ones((1, 2, 3)))])
def test_shape_mismatch_and_empty_input_are_refused(a, b):
    with pytest.raises(ValueError):
        paired_bootstrap(a, b)
    with pytest.raises(ValueError):
        mcnemar(a, b)


# ---------------------------------------------------------------------------------------------------------------
# Bootstrap, several seeds (two-stage)


def test_two_stage_interval_is_the_exact_two_stage_distribution():
    # 2 seeds x 3 items: every draw of the seeds (2**2) times every draw of the items (3**3), equally likely; the
    # statistic is the mean over the drawn seeds and the drawn items, the same item draw for every drawn seed.
    a = np.array([[1, 0, 1], [1, 0, 1]])
    b = np.array([[0, 0, 0], [1, 1, 0]])
    d = a - b
    values = np.array([d[list(seeds)][:, list(items)].mean()
                       for seeds in itertools.product(range(2), repeat=2)
                       for items in itertools.product(range(3), repeat=3)])
    low, high = exact_interval(values)
    difference, got_low, got_high = paired_bootstrap(a, b, resamples=100_000)
    assert difference == pytest.approx(100 * d.mean())
    assert (got_low, got_high) == pytest.approx((low, high), abs=1e-9)


def test_identical_seeds_match_one_seed_and_disagreeing_seeds_widen_the_interval():
    one = paired_bootstrap(A, B, resamples=100_000)
    # three seeds that agree exactly: the seed level adds nothing, so the same estimate and (up to Monte Carlo, here
    # exactly: see exact_interval) the same interval as one seed
    same = paired_bootstrap(np.tile(A, (3, 1)), np.tile(B, (3, 1)), resamples=100_000)
    assert same == pytest.approx(one, abs=1e-9)
    # a shape (1, items) is the one-seed case
    assert paired_bootstrap(A[None], B[None], resamples=100_000) == one

    # 20 items, 25 points better on average either way: every seed the same (5 items won) or the seeds disagreeing
    # (10 items won at seed 0, none at seed 1). Resampling the seeds must show that spread.
    items = 20
    agree_a = np.zeros((2, items))
    agree_a[:, :5] = 1
    disagree_a = np.zeros((2, items))
    disagree_a[0, :10] = 1
    b = np.zeros((2, items))
    agree = paired_bootstrap(agree_a, b, resamples=5_000)
    disagree = paired_bootstrap(disagree_a, b, resamples=5_000)
    assert agree[0] == disagree[0] == 25.0
    assert disagree[2] - disagree[1] >= agree[2] - agree[1]
    assert disagree[2] - disagree[1] > 1.2 * (agree[2] - agree[1])


# ---------------------------------------------------------------------------------------------------------------
# Macro (SugarCrepe's "avg"): stratified bootstrap


def test_macro_bootstrap_is_the_mean_of_category_differences_resampled_within_categories():
    # category x: 2 items, both won (100 points); category y: 4 items, one lost (-25): macro 37.5, micro 16.7
    a = np.array([1, 1, 0, 1, 0, 0])
    b = np.array([0, 0, 0, 1, 1, 0])
    categories = np.array(["x", "x", "y", "y", "y", "y"])
    d = a - b
    x, y = d[:2], d[2:]
    values = np.array([(x[list(i)].mean() + y[list(j)].mean()) / 2
                       for i in itertools.product(range(2), repeat=2)
                       for j in itertools.product(range(4), repeat=4)])
    low, high = exact_interval(values)
    difference, got_low, got_high = macro_bootstrap(a, b, categories, resamples=100_000)
    assert difference == 37.5
    assert (got_low, got_high) == pytest.approx((low, high), abs=1e-9)
    # several identical seeds: the same estimate and interval
    many = macro_bootstrap(np.tile(a, (2, 1)), np.tile(b, (2, 1)), categories, resamples=100_000)
    assert many == pytest.approx((difference, got_low, got_high), abs=1e-9)
    with pytest.raises(ValueError, match="one category per item"):
        macro_bootstrap(a, b, categories[:-1])


# ---------------------------------------------------------------------------------------------------------------
# compare()


def table(model, seed, benchmark, correct: dict) -> list[dict]:
    """Rows of the long table: correct maps (category, sample_id) to an outcome."""
    return [{"model": model, "seed": seed, "benchmark": benchmark, "category": category, "sample_id": sample_id,
             "correct": value} for (category, sample_id), value in correct.items()]


def long(rows: list[dict], shuffle: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame(rows).astype({"seed": "Int64"})
    # rows in no particular order: items must be matched by id, seeds by number, never by position
    return frame.sample(frac=1, random_state=shuffle).reset_index(drop=True)


ITEMS = [(category, f"{category}-{i}") for category in ("c1", "c2") for i in range(8)]


def test_compare_clear_cut_null_and_broadcast_cases():
    rows = []
    for seed in (0, 1):
        rows += table("clip", seed, "toy", {item: False for item in ITEMS})  # the baseline: wrong everywhere
        rows += table("negclip", seed, "toy", {item: True for item in ITEMS})  # right everywhere: clear-cut
        rows += table("tripletclip", seed, "toy", {item: False for item in ITEMS})  # identical to the baseline
        # a similarity benchmark has no right answer: skipped
        rows += table("clip", seed, "similarity", {item: None for item in ITEMS})
        rows += table("negclip", seed, "similarity", {item: None for item in ITEMS})
    # a model evaluated as given: right on all of c1, wrong on all of c2; and an item the baseline lacks
    rows += table("openai", pd.NA, "toy", {item: item[0] == "c1" for item in ITEMS} | {("c1", "extra"): True})
    result = compare(long(rows), "clip", resamples=2_000)

    assert list(result.columns) == ["model", "baseline", "benchmark", "category", "n_items", "n_seeds", "difference",
                                    "low", "high", "p_value", "holds"]
    assert set(result["baseline"]) == {"clip"} and set(result["benchmark"]) == {"toy"}
    got = result.set_index(["model", "category"])
    expected_rows = {(m, c) for m in ("negclip", "tripletclip", "openai") for c in ("c1", "c2", "all")}
    assert set(got.index) == expected_rows and len(result) == len(expected_rows)
    assert got["n_items"].to_dict() == {(m, c): 16 if c == "all" else 8 for m, c in expected_rows}
    # openai has no seed: broadcast against clip's two
    assert set(got["n_seeds"]) == {2}

    clear = got.loc["negclip"]
    assert (clear["difference"] == 100).all() and (clear["low"] == 100).all() and (clear["high"] == 100).all()
    assert clear.loc["c1", "p_value"] == pytest.approx(2 / 2**8)
    assert clear.loc["all", "p_value"] == pytest.approx(2 / 2**16)
    assert clear["holds"].all()

    null = got.loc["tripletclip"]
    assert (null[["difference", "low", "high"]] == 0).all().all()
    assert (null["p_value"] == 1).all()
    assert not null["holds"].any()

    given = got.loc["openai"]
    assert given.loc["c1", "holds"] and not given.loc["c2", "holds"]
    assert given.loc["c2", "p_value"] == 1 and given.loc["c2", "difference"] == 0
    # all: 8 won, 8 tied of 16 -> 50 points, p = 2 / 2**8, interval well clear of 0
    assert given.loc["all", "difference"] == 50
    assert given.loc["all", "p_value"] == pytest.approx(2 / 2**8)
    assert given.loc["all", "low"] > 0 and given.loc["all", "holds"]
    assert result["holds"].dtype == bool

    # same inputs and seed, same numbers: items are put in one order whatever the rows' order in the input (which
    # decides only the order of the models in the result)
    again = compare(long(rows, shuffle=1), "clip", resamples=2_000)
    assert again.set_index(["model", "category"]).sort_index().equals(got.sort_index())


def test_compare_pairs_seeds_by_number():
    # clip wins the even items at seed 0 and the odd ones at seed 1; ceclip does exactly the same at each seed.
    # Paired by seed number they are identical (0 points, p = 1); paired seed 0 with seed 1 they would differ on
    # every item. negclip has seeds 1 and 2: only seed 1 pairs.
    rows = []
    for seed in (0, 1):
        outcome = {item: int(item[1][-1]) % 2 == seed for item in ITEMS}
        rows += table("clip", seed, "toy", outcome)
        rows += table("ceclip", seed, "toy", outcome)
    for seed in (1, 2):
        rows += table("negclip", seed, "toy", {item: True for item in ITEMS})
    result = compare(long(rows), "clip", resamples=1_000).set_index(["model", "category"])
    assert (result.loc["ceclip", "difference"] == 0).all() and (result.loc["ceclip", "p_value"] == 1).all()
    assert (result.loc["ceclip", "n_seeds"] == 2).all()
    assert (result.loc["negclip", "n_seeds"] == 1).all() and (result.loc["negclip", "difference"] == 50).all()


def test_compare_adds_sugarcrepe_macro_average():
    # 2 items of replace_obj (both won: 100 points) and 6 of swap_att (none won: 0): SugarCrepe's avg is the mean
    # of the category accuracies, 50 points, where the item-level accuracy ("all") gives 25.
    items = [("replace_obj", f"r{i}") for i in range(2)] + [("swap_att", f"s{i}") for i in range(6)]
    rows = table("clip", pd.NA, "sugarcrepe", {item: False for item in items})
    rows += table("negclip", pd.NA, "sugarcrepe", {item: item[0] == "replace_obj" for item in items})
    result = compare(long(rows), "clip", resamples=2_000).set_index("category")
    assert list(result.index) == ["replace_obj", "swap_att", "all", "avg"]
    assert result.loc["all", "difference"] == 25 and result.loc["avg", "difference"] == 50
    assert np.isnan(result.loc["avg", "p_value"]) and not np.isnan(result.loc["all", "p_value"])
    assert result.loc["avg", "n_items"] == 8 and (result["n_seeds"] == 1).all()
    # replace_obj is won on every item, swap_att tied on every item: every stratified resample gives 50
    assert result.loc["avg", "low"] == result.loc["avg", "high"] == 50
    # the interval alone decides a row without a p-value
    assert result.loc["avg", "holds"]


def test_compare_names_what_is_missing():
    rows = long(table("clip", 0, "toy", {item: True for item in ITEMS}))
    with pytest.raises(ValueError, match=r"'openclip'.*clip"):
        compare(rows, "openclip")
    with pytest.raises(ValueError, match="sample_id"):
        compare(rows.drop(columns="sample_id"), "clip")
    with pytest.raises(ValueError, match="duplicated"):
        compare(pd.concat([rows, rows, long(table("x", 0, "toy", {item: True for item in ITEMS}))]), "clip")


# ---------------------------------------------------------------------------------------------------------------
# No ✓ from a degenerate interval (issue 28, item 6)

SUGARCREPE = ["replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att"]


def sugarcrepe_rows(per_category: int, won, seeds=(pd.NA,)) -> pd.DataFrame:
    """clip wrong on every item; negclip right where won(category index, item index, seed)."""
    items = [(c, f"{c}-{i}") for c in SUGARCREPE for i in range(per_category)]
    rows = []
    for seed in seeds:
        rows += table("clip", seed, "sugarcrepe", {item: False for item in items})
        rows += table("negclip", seed, "sugarcrepe", {
            (c, s): won(SUGARCREPE.index(c), int(s.rsplit("-", 1)[1]), seed) for c, s in items})
    return long(rows)


def test_degenerate_note_names_the_stratum_of_too_few_items():
    assert MIN_ITEMS == 2
    assert degenerate_note([1]).startswith("interval degenerate: the sample has fewer than 2 items (1)")
    assert degenerate_note([5, 1, 9], stratified=True).startswith(
        "interval degenerate: a category has fewer than 2 items (1)")
    assert degenerate_note([2]) == degenerate_note([2, 40], stratified=True) == ""


def test_one_item_per_category_gives_no_mark_on_avg():
    # the case: one item per category, won in one category only. The stratified bootstrap redraws each
    # category's single item unchanged: the interval is the point +14.29, and McNemar over the 7 items gives p = 1
    result = compare(sugarcrepe_rows(1, lambda c, i, s: c == 0), "clip", resamples=2_000, notes=True)
    assert list(result.columns)[-2:] == ["holds", "note"]
    got = result.set_index("category")
    avg = got.loc["avg"]
    assert avg["difference"] == avg["low"] == avg["high"] == pytest.approx(100 / 7)
    assert not avg["holds"]
    assert avg["note"] == degenerate_note([1] * 7, stratified=True) and "a category" in avg["note"]
    assert got.loc["all", "p_value"] == 1 and not got.loc["all", "holds"] and got.loc["all", "note"] == ""
    # each category of one item: degenerate too, and no ✓
    assert (got.loc[SUGARCREPE, "note"] == degenerate_note([1])).all() and not got.loc[SUGARCREPE, "holds"].any()
    # the same rows without notes: the same ✓ (holds does not depend on asking for the note)
    assert compare(sugarcrepe_rows(1, lambda c, i, s: c == 0), "clip", resamples=2_000)["holds"].tolist() == \
        result["holds"].tolist()

    # two seeds that disagree (two categories won at seed 0, one at seed 1): the interval is no longer a point, it
    # excludes 0, yet it holds only the seeds' spread, none of the items': still no ✓
    seeds = compare(sugarcrepe_rows(1, lambda c, i, s: c < 2 - s, seeds=(0, 1)), "clip", resamples=2_000,
                    notes=True).set_index("category").loc["avg"]
    assert seeds["low"] > 0 and seeds["high"] > seeds["low"]
    assert not seeds["holds"] and seeds["note"].startswith("interval degenerate")


def test_two_items_per_category_give_a_real_interval():
    # (a) the pattern with two items: both items of one category won, the rest tied. The variance of each
    # category is now estimable (0: its two items agree), the rule passes it and the point interval keeps its ✓,
    # as test_compare_adds_sugarcrepe_macro_average requires of a category of two items won; the item-level row
    # beside it (McNemar p = 0.5 over two discordant items) has none
    got = compare(sugarcrepe_rows(2, lambda c, i, s: c == 0), "clip", resamples=2_000,
                  notes=True).set_index("category")
    assert got.loc["avg", "low"] == got.loc["avg", "high"] == pytest.approx(100 / 7)
    assert got.loc["avg", "holds"] and got.loc["avg", "note"] == ""
    assert got.loc["all", "p_value"] == 0.5 and not got.loc["all", "holds"]
    assert (got["note"] == "").all()

    # (b) one item of the two won in every category: each category resamples to 0, 50 or 100 points, the interval
    # is a real one (+50, its low end above 0 unless all seven categories draw their lost item, 4**-7), and holds
    got = compare(sugarcrepe_rows(2, lambda c, i, s: i == 0), "clip", resamples=2_000,
                  notes=True).set_index("category")
    avg = got.loc["avg"]
    assert avg["difference"] == 50 and 0 < avg["low"] < 50 < avg["high"] < 100
    assert avg["holds"] and avg["note"] == ""
    assert got.loc["all", "p_value"] == pytest.approx(2 / 2**7) and got.loc["all", "holds"]
    # a category of two items, one won: McNemar p = 1, no ✓ there, and no note either (its interval is real)
    assert not got.loc[SUGARCREPE, "holds"].any() and (got.loc[SUGARCREPE, "note"] == "").all()


@pytest.mark.parametrize("seeds", [(pd.NA,), (0, 1, 2)])
def test_realistic_sizes_keep_their_mark(seeds):
    # SugarCrepe-like: seven categories of 40 to 100 items, clip right on ~65 %, negclip fixing ~40 % of clip's
    # errors and breaking ~5 % of its successes (about +11 points): a clear difference keeps its ✓ on avg and all
    rng = np.random.default_rng(7)
    sizes = [40, 55, 70, 85, 100, 60, 45]
    rows = []
    for seed in seeds:
        for category, size in zip(SUGARCREPE, sizes):
            clip = rng.random(size) < 0.65
            negclip = np.where(clip, rng.random(size) > 0.05, rng.random(size) < 0.4)
            ids = [(category, f"{category}-{i}") for i in range(size)]
            rows += table("clip", seed, "sugarcrepe", dict(zip(ids, clip.tolist())))
            rows += table("negclip", seed, "sugarcrepe", dict(zip(ids, negclip.tolist())))
    got = compare(long(rows), "clip", resamples=2_000, notes=True).set_index("category")
    assert (got["note"] == "").all() and (got["n_seeds"] == len(seeds)).all()
    for row in ("avg", "all"):
        assert got.loc[row, "low"] > 0 and got.loc[row, "holds"]
    assert got.loc["avg", "difference"] == pytest.approx(11, abs=4)
