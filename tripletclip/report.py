"""The report: every benchmark's metrics for every method and seed, their mean and spread over seeds, the compute
budget they were trained at, and the plots (SugarCrepe per category, similarity histograms, training curves).
The models named in the config's `models:` block (published or local checkpoints, evaluated as given) are rows
too, after the trained methods, named by their key, with no seed and `trained` False.

Outputs: `results.csv` in long form (method, seed, trained, benchmark, metric, value), `summary.csv` (mean, sd
and n over seeds), `results_wide.csv` (methods and named models x benchmark/metric, means), `results.md` (the
budget, an overview, each method's difference to the init model when `train.init` names one of `models:`, with
several seeds each method's difference to CLIP paired by seed, then one mean ± sd table per benchmark) and PNG
plots.
"""

from __future__ import annotations

import math
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from . import flops, io  # noqa: E402
from .evals.registry import REGISTRY  # noqa: E402
from .evals.sugarcrepe import CATEGORIES, GROUPS  # noqa: E402

LABELS = {"replace_obj": "Replace obj", "replace_att": "Replace att", "replace_rel": "Replace rel",
          "swap_obj": "Swap obj", "swap_att": "Swap att", "add_obj": "Add obj", "add_att": "Add att",
          "avg": "Avg of 7 categories", "avg_groups": "Avg of 3 groups", "avg_samples": "Avg over samples",
          "replace": "Replace", "swap": "Swap", "add": "Add"}
# The paper's column order for SugarCrepe (TripletCLIP Table 2), then the group means.
SUGARCREPE_ORDER = list(CATEGORIES) + ["avg", "avg_groups", "avg_samples"] + list(GROUPS)
# SugarCrepe's "average" has three conventions in the literature, 2-3 points apart on the real benchmark
AVERAGES = ("Three averages, each named: *Avg of 7 categories* (`avg`, the mean of the seven category accuracies, as "
            "TripletCLIP reports it; the overview's), *Avg of 3 groups* (`avg_groups`, the mean of the replace, swap "
            "and add means) and *Avg over samples* (`avg_samples`, every sample weighing the same, so the large "
            "categories count more). Compare a published average only with the one of its convention.")
COLUMNS = ["method", "seed", "trained", "benchmark", "metric", "value"]
# The row label of a model of `models:`, and the footnote under every table holding one. The footnote's asterisk
# is escaped: at the start of a line Markdown would take it for a bullet.
MARK = "*"
BLIND_PREFIX = "blind-"  # the rows of the text-only scorers (tripletclip.blind), which are no model of `models:`
FOOTNOTE = (r"\* not trained here: evaluated as given (`models:`, `train.init`), or a text-only scorer that never "
            "sees the image (`blind-*`, fitted on the training captions); one evaluation, no seed.")


def collect(eval_paths: list[str]) -> pd.DataFrame:
    """The eval JSONs as one long table: method, seed, trained, benchmark, metric, value. A JSON without "trained"
    is a trained run; a model of `models:` ("trained": false) has no seed (<NA>) whatever its JSON says."""
    rows = []
    for path in eval_paths:
        result = io.read_json(path)
        trained = bool(result.get("trained", True))
        rows += [{"method": result["method"], "seed": result["seed"] if trained else None, "trained": trained,
                  "benchmark": result["benchmark"], "metric": metric, "value": value}
                 for metric, value in result["metrics"].items()]
    # nullable integers: a float column would write the seeds of trained runs as 0.0 beside the empty ones
    long = pd.DataFrame(rows, columns=COLUMNS).astype({"seed": "Int64", "trained": bool})
    clash = set(long.loc[long["trained"], "method"]) & set(long.loc[~long["trained"], "method"])
    if clash:
        raise ValueError(f"{sorted(clash)} name both a trained method and a model of `models:`: their rows would "
                         f"merge; rename the model")
    return long


def _order(long: pd.DataFrame) -> pd.DataFrame:
    """Trained methods, then the models of `models:`, each as they came (the config's order), seeds ascending,
    benchmarks in suite order, SugarCrepe in the paper's."""
    def rank(metric, benchmark):
        return SUGARCREPE_ORDER.index(metric) if benchmark == "sugarcrepe" and metric in SUGARCREPE_ORDER else 99

    out = long.copy()
    out["_t"] = ~out["trained"]
    out["_m"] = out["method"].map({m: i for i, m in enumerate(dict.fromkeys(long["method"]))})
    out["_b"] = out["benchmark"].map({b: i for i, b in enumerate(REGISTRY)})
    out["_k"] = [rank(m, b) for m, b in zip(out["metric"], out["benchmark"])]
    out["_first"] = out.groupby(["benchmark", "metric"], sort=False).ngroup()
    return out.sort_values(["_t", "_m", "seed", "_b", "_k", "_first"], kind="stable").drop(
        columns=["_t", "_m", "_b", "_k", "_first"]).reset_index(drop=True)


def long_table(eval_paths: list[str]) -> pd.DataFrame:
    """The eval JSONs as one ordered long table (results.csv): `collect`, in `_order`'s order."""
    return _order(collect(eval_paths))


def write_long(eval_paths: list[str], output: str) -> pd.DataFrame:
    """`long_table` of `eval_paths` written as CSV to `output` (results.csv, or one benchmark's table)."""
    long = long_table(eval_paths)
    with io.atomic_path(output) as tmp:
        long.to_csv(tmp, index=False, float_format="%.4f")
    return long


def summarize(long: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample standard deviation (0 for one seed) and number of seeds per method, benchmark and metric; a
    model of `models:` has one evaluation: its value, sd 0, n 1. Keeps `trained` where `long` has it."""
    keys = ["method", "trained", "benchmark", "metric"] if "trained" in long else ["method", "benchmark", "metric"]
    grouped = long.groupby(keys, sort=False)["value"]
    summary = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1).fillna(0.0), "n": grouped.size()})
    return summary.reset_index()


def paired(long: pd.DataFrame, baseline: str = "clip") -> pd.DataFrame:
    """Each trained method's difference to the trained `baseline`, seed by seed, then its mean, sd and n over
    seeds; the models of `models:` have no seed to pair and are left out. A seed fixes the initial weights and the
    order of the data for every method alike, so much of what varies between seeds varies for all methods
    together; the paired difference leaves that out."""
    long = long[long["trained"]]
    base = long[long["method"] == baseline].set_index(["seed", "benchmark", "metric"])["value"]
    others = long[long["method"] != baseline]
    keys = pd.MultiIndex.from_frame(others[["seed", "benchmark", "metric"]])
    diff = others.assign(value=others["value"].to_numpy() - base.reindex(keys).to_numpy()).dropna(subset=["value"])
    return summarize(diff)


def difference_to_init(long: pd.DataFrame, init: str) -> pd.DataFrame:
    """Each trained method's difference to `init`, the model of `models:` every method was fine-tuned from, seed
    by seed against its one evaluation, then the mean, sd and n over seeds of (method − init)."""
    base = long[(long["method"] == init) & ~long["trained"]].set_index(["benchmark", "metric"])["value"]
    runs = long[long["trained"]]
    keys = pd.MultiIndex.from_frame(runs[["benchmark", "metric"]])
    diff = runs.assign(value=runs["value"].to_numpy() - base.reindex(keys).to_numpy()).dropna(subset=["value"])
    return summarize(diff)


def wide(summary: pd.DataFrame) -> pd.DataFrame:
    """Methods, then the models of `models:` (by their key), x "benchmark/metric" columns, means over seeds."""
    table = summary.assign(column=summary["benchmark"] + "/" + summary["metric"])
    columns = list(dict.fromkeys(table["column"]))
    return table.pivot(index="method", columns="column", values="mean").loc[
        list(dict.fromkeys(table["method"])), columns]


def headline(benchmark: str, metric: str) -> bool:
    """The metrics of the overview table: one or a few per benchmark (its registry entry's `headline`)."""
    return REGISTRY[benchmark].is_headline(metric) if benchmark in REGISTRY else True


def _trained(part: pd.DataFrame) -> pd.Series:
    return part["trained"] if "trained" in part else pd.Series(True, index=part.index)


def label(method: str, trained: bool = True) -> str:
    """A row's name in tables and legends: a model of `models:` carries the marker the footnote explains."""
    return method if trained else f"{method} {MARK}"


def _digits(benchmark: str) -> int:
    """The decimals of the benchmark's values in results.md (its registry entry's)."""
    return REGISTRY[benchmark].decimals if benchmark in REGISTRY else 2


def _table(part: pd.DataFrame, column: str, sign: str = "") -> str:
    """`part` as Markdown, rows (labelled) x `column`: mean ± sd, or the one value of a model of `models:`, whose
    "± 0.00" would read as a spread measured over seeds; the footnote follows when such a row is present."""
    trained = _trained(part)
    # one seed (or one evaluation) has no spread: "± 0.00" would read as one measured over seeds
    cells = [f"{m:{sign}.{_digits(b)}f} ± {s:.{_digits(b)}f}" if t and n > 1 else f"{m:{sign}.{_digits(b)}f}"
             for b, m, s, n, t in zip(part["benchmark"], part["mean"], part["std"], part["n"], trained)]
    names = [label(m, t) for m, t in zip(part["method"], trained)]
    table = part.assign(cell=cells, method=names).pivot(index="method", columns=column, values="cell").loc[
        list(dict.fromkeys(names)), list(dict.fromkeys(part[column]))]
    if column == "metric" and set(part["benchmark"]) == {"sugarcrepe"}:
        table = table.rename(columns=LABELS)
    # tabulate would parse a column of bare numbers ("73.00", a model of `models:` alone) and print 73
    # a blind scorer has no row in the benchmarks it cannot take (retrieval, ...): an empty cell
    return table.fillna("").to_markdown(disable_numparse=True) + ("\n\n" + FOOTNOTE if not trained.all() else "")


def _overview(summary: pd.DataFrame, sign: str = "") -> str:
    top = summary[[headline(b, m) for b, m in zip(summary["benchmark"], summary["metric"])]]
    names = [f"{b}/{m}" + (" of 7 categories" if (b, m) == ("sugarcrepe", "avg") else "")
             for b, m in zip(top["benchmark"], top["metric"])]
    return _table(top.assign(column=names), "column", sign)


def collect_samples(eval_paths: list[str], sample_paths: list[str]) -> pd.DataFrame:
    """Every evaluation's per-sample table (tripletclip/evals: category, sample_id, correct, the scores) as one,
    with the model, seed (<NA> for a model of `models:`) and benchmark of the eval JSON beside it."""
    frames = []
    for eval_path, sample_path in zip(eval_paths, sample_paths, strict=True):
        result = io.read_json(eval_path)
        trained = bool(result.get("trained", True))
        frames.append(pd.read_parquet(sample_path).assign(
            model=result["method"], seed=result["seed"] if trained else None, benchmark=result["benchmark"]))
    return pd.concat(frames, ignore_index=True).astype({"seed": "Int64"}) if frames else pd.DataFrame()


# The mark of a cell whose interval is degenerate (significance.degenerate_note), and the line under the section
DAGGER = "†"


def _notes(part: pd.DataFrame) -> list[str]:
    """Each row's `note` (significance.compare(notes=True)), "" where it has none or the table no such column."""
    if "note" not in part:
        return [""] * len(part)
    return ["" if pd.isna(n) else str(n) for n in part["note"]]


def _significance_table(part: pd.DataFrame, column: str) -> str:
    """Models x `column`: the difference to the baseline with its 95 % interval, ✓ where it holds, † where the
    interval is degenerate (a stratum of too few items: no ✓ whatever its bounds)."""
    cells = part.assign(cell=[f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]" + (" ✓" if h else "") + (f" {DAGGER}" if n else "")
                              for d, lo, hi, h, n in zip(part["difference"], part["low"], part["high"], part["holds"],
                                                         _notes(part))])
    return cells.pivot(index="model", columns=column, values="cell").loc[
        list(dict.fromkeys(cells["model"])), list(dict.fromkeys(cells[column]))].fillna("").to_markdown(
        disable_numparse=True)


def significance_markdown(table: pd.DataFrame, baseline: str, confidence: float) -> str:
    """The section of results.md that says which differences to `baseline` hold (`table` from
    significance.compare): each benchmark's overall accuracy (SugarCrepe's `avg`, the mean of its categories), then
    SugarCrepe per category; a cell whose interval is degenerate (`note` in `table`, significance.degenerate_note)
    is marked † and the line under the tables says why it has no ✓."""
    if table.empty:
        return ""
    from . import significance  # scipy and statsmodels: only the report needs them

    level = f"{confidence:.0%}"
    text = (f"### Is the difference real? Each model against {baseline}\n\nThe difference in accuracy (points) on the "
            f"same items, with its {level} paired bootstrap interval (items resampled, and seeds too when there are "
            f"several); ✓: the interval excludes 0 and McNemar's exact test on the per-item outcomes gives p < "
            f"{1 - confidence:.2g} (at every seed). SugarCrepe's `avg` is its categories' mean, resampled within each "
            f"(no McNemar test for a mean of categories: its interval alone decides); "
            f"the other benchmarks are over all their items. No ✓ from a degenerate interval: each category (for "
            f"`avg`), or the items of the row, must number at least {significance.MIN_ITEMS}, since the bootstrap "
            f"redraws a single item unchanged and gives it no spread. Every interval and p-value: `significance.csv`.")
    # a benchmark's overall row: its macro average where its headline is one (the registry's `macro`), else "all"
    macro = [REGISTRY[b].macro if b in REGISTRY else None for b in table["benchmark"]]
    overall = table[[c == (m or "all") for c, m in zip(table["category"], macro)]]
    text += "\n\n" + _significance_table(overall.assign(column=overall["benchmark"] + "/" + overall["category"]),
                                         "column")
    categories = table[(table["benchmark"] == "sugarcrepe") & ~table["category"].isin(["all", "avg"])]
    if not categories.empty:
        text += "\n\nSugarCrepe per category:\n\n" + _significance_table(
            categories.assign(category=categories["category"].map(lambda c: LABELS.get(c, c))), "category")
    shown = pd.concat([overall, categories])
    # each note reads "interval degenerate: <why>"; the line says the first part once
    reasons = list(dict.fromkeys(n.split(": ", 1)[-1] for n in _notes(shown) if n))
    if reasons:
        text += (f"\n\n{DAGGER} Interval degenerate, no ✓ whatever its bounds: " + "; ".join(reasons)
                 + " (`significance.csv`, column `note`).")
    return text


def markdown(summary: pd.DataFrame, statement: str, differences: pd.DataFrame | None = None,
             baseline: str = "clip", init: str | None = None,
             init_differences: pd.DataFrame | None = None, significance: str = "", compute: str = "") -> str:
    """The budget, an overview (methods and models of `models:` x headline metrics), each method's difference to
    the init model `init` (`init_differences`, from `difference_to_init`), with several seeds each method's paired
    difference to `baseline` (`differences`, from `paired`), then one table per benchmark; mean ± sd over seeds,
    the one value of a model of `models:`."""
    parts = [statement]
    if _trained(summary).any():
        parts.append("Mean ± standard deviation over seeds.")
    if compute:
        parts.append(compute)
    parts.append("### Overview\n\n" + _overview(summary))
    if init is not None and init_differences is not None and len(init_differences):
        parts.append(f"### Difference to the init model ({init})\n\nEvery method was fine-tuned from {init}: the "
                     f"mean ± sd over seeds of (method − {init}), {init} evaluated once. A compositional gain "
                     f"usually comes with a change in zero-shot classification and retrieval (the known trade-off "
                     f"of hard-negative fine-tuning: NegCLIP and CE-CLIP lose a little ImageNet top-1 against the "
                     f"CLIP they start from), so both are shown side by side.\n\n"
                     + _overview(init_differences, "+"))
    if differences is not None and len(differences) and differences["n"].min() > 1:
        parts.append(f"### Difference to {baseline}, paired by seed\n\nEach seed starts every method from the same "
                     f"weights and feeds it the data in the same order: the mean ± sd over seeds of (method − "
                     f"{baseline}) at the same seed.\n\n" + _overview(differences, "+"))
    if significance:
        parts.append(significance)
    for benchmark in dict.fromkeys(summary["benchmark"]):
        part = summary[summary["benchmark"] == benchmark]
        title = REGISTRY[benchmark].title if benchmark in REGISTRY else benchmark
        parts.append(f"### {title}\n\n"
                     + (f"{AVERAGES}\n\n" if "avg_groups" in set(part["metric"]) else "") + _table(part, "metric"))
    return "\n\n".join(parts) + "\n"


def _models(named) -> str:
    named = list(named)
    return f"{len(named)} model{'' if len(named) == 1 else 's'}" + (f" ({', '.join(named)})" if named else "")


def budget(metrics: list[str], named: list[str] | tuple[str, ...] = ()) -> str:
    """The equal-compute statement, checked: every trained run must have seen the same number of anchor pairs
    (`train.budget: pairs`, the paper's), or spent the same training FLOPs within one step of its own (`flops`).
    `named`: the keys of the models of `models:` that were evaluated, stated as outside the budget; with no
    trained run (`train.methods: []`), the statement says the run evaluated only those."""
    if not metrics:
        return ("Evaluation only: no model was trained in this run"
                + (f"; {_models(named)} evaluated as given in `models:`." if named else "."))
    runs = [io.read_json(path) for path in metrics]
    m = runs[0]
    seeds = sorted({r["seed"] for r in runs})
    if m.get("budget") == "flops":
        most = max(r["flops_total"] for r in runs)
        off = [f"{r['method']} seed {r['seed']}" for r in runs if abs(r["flops_total"] - most) > r["flops_per_step"]]
        if off:
            raise ValueError(f"the runs were not trained at equal FLOPs: {', '.join(off)} differ from "
                             f"{flops.describe(most)} by more than one step")
        statement = (f"Equal FLOPs: every model {'trained here ' if named else ''}spent {flops.describe(most)} "
                     f"of training (within one step of its own; counted at {m['flops_text_length']} tokens a "
                     f"caption), at global batch {m['batch_size']:,}, {m['model']}, seeds "
                     f"{', '.join(map(str, seeds))}; its steps, pairs and images differ by method (\"Compute\").")
    else:
        pairs = {r["pairs_seen"] for r in runs}
        if len(pairs) != 1:
            raise ValueError(f"the runs were not trained at equal compute: pairs seen {sorted(pairs)}")
        statement = (f"Equal compute: every model {'trained here ' if named else ''}saw {m['pairs_seen']:,} anchor "
                     f"pairs ({m['steps']:,} steps x global batch {m['batch_size']:,}), {m['model']}, seeds "
                     f"{', '.join(map(str, seeds))}.")
    if named:
        statement += (f" The {_models(named)} of `models:` {'was' if len(named) == 1 else 'were'} evaluated as "
                      f"given, outside this budget.")
    return statement


def compute_table(metrics: list[str]) -> str:
    """results.md's "Compute" section: per arm in the config's order (its first run; seeds spend alike), the steps,
    anchor pairs seen, real and synthetic images (a negative image, or a negative pair read as a positive) and
    captions encoded, the unique real images, and the training FLOPs per step and in all (tripletclip.flops); what
    each arm read (loss, negative set, captions) when some arm is more than its method; the share of synthetic pairs
    of an arm that read its negative pairs as positives. "" for runs that did not record the FLOPs (trained before
    the count existed)."""
    runs = [io.read_json(path) for path in metrics]
    if not runs or any("flops_per_step" not in r for r in runs):
        return ""
    first = {}
    for r in runs:
        first.setdefault(r["method"], r)
    described = any("loss" in r or r.get("negatives", "main") != "main" or r.get("captions", "original") != "original"
                    or r.get("extra_pairs") for r in first.values())
    rows, shares = [], []
    for r in first.values():
        steps = r["steps"]
        real = r.get("real_pairs_seen", steps * r["real_images_per_step"])
        synthetic_pairs = r.get("synthetic_pairs_seen", 0)
        row = {"method": r["method"]}
        if described:
            row |= {"loss": r.get("loss", r["method"]), "negatives": r.get("negatives", "main"),
                    "captions": r.get("captions", "original") + (" + negative pairs" if r.get("extra_pairs") else "")}
        rows.append(row | {"steps": f"{steps:,}", "pairs seen": f"{r['pairs_seen']:,}", "real images": f"{real:,}",
                           "synthetic images": f"{synthetic_pairs + steps * r['synthetic_images_per_step']:,}",
                           "captions encoded": f"{steps * r['captions_per_step']:,}",
                           "unique real images": f"{r['unique_real_images']:,}" if "unique_real_images" in r else "",
                           "FLOPs / step": flops.describe(r["flops_per_step"]),
                           "FLOPs in all": flops.describe(r["flops_total"])})
        if r.get("extra_pairs"):
            shares.append(f"{r['method']} read its negative pairs as positives (its synthetic images count them): "
                          f"of its {r['pairs_seen']:,} pairs, {real:,} were real ({real / r['pairs_seen']:.0%}) and "
                          f"{synthetic_pairs:,} synthetic.")
    return ("### Compute\n\nWhat each method spent: images and captions encoded (a synthetic image is a negative "
            "image), and the training FLOPs of forward, loss and backward, "
            "counted on the model's shapes "
            f"(`tripletclip/flops.py`, captions at {runs[0]['flops_text_length']} tokens; the trainer cuts each "
            "batch to its longest caption, so text FLOPs are at most this).\n\n"
            + pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)
            + "".join(f"\n\n{line}" for line in shares))


def compare(samples: pd.DataFrame, baseline: str | None, resamples: int, confidence: float,
            seed: int) -> pd.DataFrame:
    """significance.compare of every model with `baseline`, item by item, with its notes; an empty table (the
    columns model, baseline, benchmark, category) when the baseline was not evaluated or is the only model."""
    from . import significance  # scipy and statsmodels: only the report needs them

    known = set(samples["model"]) if len(samples) else set()
    if baseline in known and len(known) > 1:
        return significance.compare(samples, baseline, resamples, confidence, seed, notes=True)
    return pd.DataFrame(columns=["model", "baseline", "benchmark", "category"])


def _write_significance(table: pd.DataFrame, path: str) -> None:
    with io.atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def write_significance(eval_paths: list[str], sample_paths: list[str], baseline: str | None, csv: str, table: str,
                       resamples: int = 10_000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Every model against `baseline` item by item (`compare`; the per-sample table beside each eval JSON, same
    order): significance.csv (`csv`, 6 significant digits) and the exact table (`table`, parquet) that
    `write_report(significance_table=...)` reads, so that redrawing the report reruns no bootstrap."""
    result = compare(collect_samples(eval_paths, sample_paths), baseline, resamples, confidence, seed)
    _write_significance(result, csv)
    with io.atomic_path(table) as tmp:
        result.to_parquet(tmp, index=False)
    return result


def write_report(eval_paths: list[str], metrics: list[str], train_logs: dict[tuple[str, int], str],
                 outputs: dict[str, str], init: str | None = None, sample_paths: list[str] | None = None,
                 baseline: str | None = None, resamples: int = 10_000, confidence: float = 0.95,
                 seed: int = 0, image_roots: dict | None = None,
                 published: dict | None = None, significance_table: str | None = None) -> pd.DataFrame:
    """Write every output named in `outputs` (keys: csv, summary, wide, markdown, sugarcrepe_plot,
    similarity_plot, training_plot, and significance with `sample_paths`); a plot whose benchmark was not run is
    drawn as a note saying so. `init`: the key of the model of `models:` every method was fine-tuned from
    (`train.init`); when it was evaluated, results.md shows each method's difference to it. `sample_paths`: the
    per-sample table beside each eval JSON (same order): every model is then compared with `baseline` item by item
    (tripletclip.significance.compare, `resamples` bootstrap draws seeded with `seed`), in significance.csv (with
    its column `note`: why a degenerate interval carries no ✓) and results.md, and the errors are laid out in
    browse.html (tripletclip.browse; `image_roots` from browse.image_roots). `published`: {"matched": {row:
    [architecture, pretrained]}, "real": [benchmarks run on real data]}: those rows beside the papers' numbers
    (tripletclip.published), in results.md and the output "published" (a CSV, empty when nothing matched).
    `significance_table`: the exact table `write_significance` wrote (parquet), read instead of comparing here (the
    output "significance" is then not written)."""
    long = long_table(eval_paths)
    if long.empty:
        raise ValueError("nothing to report: no evaluation of a trained run or of a model of `models:`")
    summary = summarize(long)
    named = [m for m in dict.fromkeys(long.loc[~long["trained"], "method"]) if not m.startswith(BLIND_PREFIX)]
    statement = budget(metrics, named)
    trained = set(long.loc[long["trained"], "method"])
    to_init = difference_to_init(long, init) if init in named and trained else None
    for key, frame, index in (("csv", long, False), ("summary", summary, False), ("wide", wide(summary), True)):
        with io.atomic_path(outputs[key]) as tmp:
            frame.to_csv(tmp, index=index, float_format="%.4f")
    section = ""
    if sample_paths is not None:
        samples = collect_samples(eval_paths, sample_paths)
        if significance_table is None:
            table = compare(samples, baseline, resamples, confidence, seed)
            _write_significance(table, outputs["significance"])
        else:  # the significance rule's (write_significance): a page or plot changed reruns no bootstrap
            table = pd.read_parquet(significance_table)
        section = significance_markdown(table, baseline, confidence)
        if "browse" in outputs:
            from . import browse

            browse.write_browser(samples, image_roots or {}, outputs["browse"])
            section = ("Every sample each model gets wrong, and where the models disagree: "
                       "[browse.html](browse.html).\n\n" + section)
    if "published" in outputs:
        from . import published as papers

        matched = {row: tuple(key) for row, key in ((published or {}).get("matched") or {}).items()}
        comparison = papers.compare(summary, matched, papers.load(), set((published or {}).get("real") or ()))
        with io.atomic_path(outputs["published"]) as tmp:
            comparison.to_csv(tmp, index=False, float_format="%.4f")
        section += ("\n\n" if section else "") + papers.markdown(comparison)
    with io.atomic_path(outputs["markdown"]) as tmp:
        tmp.write_text(markdown(summary, statement, paired(long) if "clip" in trained else None, init=init,
                                init_differences=to_init, significance=section.strip(),
                                compute=compute_table(metrics)), encoding="utf-8")
    similarity = [p for p in eval_paths if io.read_json(p)["benchmark"] == "similarity"]
    figures = {"sugarcrepe_plot": plot_sugarcrepe(summary, statement, item_counts(eval_paths), confidence,
                                                  long[long["benchmark"] == "sugarcrepe"]),
               "similarity_plot": plot_similarity(similarity),
               "training_plot": plot_training(train_logs)}
    for key, fig in figures.items():
        with io.atomic_path(outputs[key]) as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
    return summary


def _note(text: str):
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    return fig


def _absent(what: str):
    return _note(f"{what} was not part of this run (eval.benchmarks)")


def item_counts(eval_paths: list[str], benchmark: str = "sugarcrepe") -> dict[str, int]:
    """{category: items} of `benchmark` from the first of its evaluations that records them (details["samples"]);
    {} when none does."""
    for path in eval_paths:
        result = io.read_json(path)
        if result["benchmark"] == benchmark and isinstance(result.get("details", {}).get("samples"), dict):
            return dict(result["details"]["samples"])
    return {}


def accuracy_interval(means: pd.Series, counts: dict[str, int], confidence: float = 0.95) -> pd.DataFrame:
    """low, high (%) of each accuracy in `means` (%, indexed by category, `avg` among them) over the benchmark's
    items: Wilson's score interval for a category of n items (statsmodels' proportion_confint), and for `avg`, the
    unweighted mean of the categories, the normal interval of that mean (its variance sum p(1 - p) / n over the
    categories, divided by their number squared). NaN where the counts are unknown."""
    from scipy.stats import norm
    from statsmodels.stats.proportion import proportion_confint

    out = pd.DataFrame(index=means.index, columns=["low", "high"], dtype=float)
    for metric, mean in means.items():
        if metric in counts and counts[metric] > 0:
            n = counts[metric]
            low, high = proportion_confint(mean / 100 * n, n, alpha=1 - confidence, method="wilson")
            out.loc[metric] = [100 * low, 100 * high]
    parts = [c for c in CATEGORIES if c in counts and c in means.index]
    if "avg" in means.index and parts and len(parts) == len(CATEGORIES):
        variance = sum((means[c] / 100) * (1 - means[c] / 100) / counts[c] for c in parts) / len(parts) ** 2
        half = 100 * norm.ppf(0.5 + confidence / 2) * math.sqrt(variance)
        out.loc["avg"] = [max(0.0, means["avg"] - half), min(100.0, means["avg"] + half)]
    return out


def plot_sugarcrepe(summary: pd.DataFrame, title: str, counts: dict[str, int] | None = None,
                    confidence: float = 0.95, seeds: pd.DataFrame | None = None):
    """A dot plot, one panel per category and the average: each model a row (trained methods, then the models of
    `models:` as hollow diamonds), its accuracy a dot (the mean over seeds) and its `confidence` interval over the
    benchmark's items (`accuracy_interval`, from `counts`: {category: items}; without counts, ± sd over seeds where
    there are several), and with `seeds` (the long table: method, seed, metric, value) each seed's own accuracy a
    small tick, so that the spread over seeds shows beside the spread over items; chance and each text-only scorer
    (`blind-*`) a vertical reference line. The legend sits below the panels, off the data; the figure grows with
    the rows, so any number of them stays readable."""
    part = summary[summary["benchmark"] == "sugarcrepe"]
    if part.empty:
        return _absent("SugarCrepe")
    columns = [c for c in list(CATEGORIES) + ["avg"] if c in set(part["metric"])]
    rows = [(m, t) for m, t in dict.fromkeys(zip(part["method"], _trained(part))) if not m.startswith(BLIND_PREFIX)]
    blind = [m for m in dict.fromkeys(part["method"]) if m.startswith(BLIND_PREFIX)]
    counts = counts or {}
    per_row = 0.32  # inches a row
    ncols = min(4, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.1 * ncols + 1.2, nrows * (per_row * max(len(rows), 2) + 0.9) + 1.3),
                             sharey=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    blind_styles = [(":", "0.2"), ("-.", "0.35"), ((0, (1, 3)), "0.2"), ((0, (6, 2, 1, 2, 1, 2)), "0.45")]
    values = part.set_index(["method", "metric"])
    lows = [50.0]
    intervals = {method: accuracy_interval(values.loc[method]["mean"].reindex(columns), counts, confidence)
                 for method, _ in rows}  # once per model, not per panel
    for ax, metric in zip(axes.flat, columns):
        for i, (method, trained) in enumerate(rows):
            row = values.loc[method]
            mean = row.loc[metric, "mean"]
            interval = intervals[method].loc[metric]
            if interval.isna().any() and trained and row.loc[metric, "n"] > 1:  # no item counts: the seeds' spread
                interval = pd.Series({"low": mean - row.loc[metric, "std"], "high": mean + row.loc[metric, "std"]})
            y = len(rows) - 1 - i  # the first row on top
            colour = colours[i % len(colours)]
            if not interval.isna().any():
                ax.plot([interval["low"], interval["high"]], [y, y], color=colour, linewidth=1.6, solid_capstyle="butt")
                lows.append(interval["low"])
            ax.plot([mean], [y], marker="o" if trained else "D", markersize=6, color=colour,
                    markerfacecolor=colour if trained else "white", markeredgewidth=1.5, linestyle="none")
            lows.append(mean)
            if seeds is not None and trained and row.loc[metric, "n"] > 1:
                own = seeds[(seeds["method"] == method) & (seeds["metric"] == metric)]["value"].tolist()
                ax.plot(own, [y + 0.28] * len(own), marker="|", markersize=7, color=colour, linestyle="none",
                        label="one seed" if i == 0 else None)
                lows += own
        ax.axvline(50, color="gray", linestyle="--", linewidth=1, label="chance (50 %)")
        for k, method in enumerate(blind):
            if (method, metric) in values.index:
                style, grey = blind_styles[k % len(blind_styles)]
                ax.axvline(values.loc[(method, metric), "mean"], color=grey, linestyle=style, linewidth=1.3,
                           label=label(method, False) + " (text only)")
        ax.set_title(LABELS[metric], fontsize=9, fontweight="bold" if metric == "avg" else "normal")
        ax.grid(axis="x", linewidth=0.4, alpha=0.5)
        ax.tick_params(labelsize=8)
    left = max(0.0, math.floor(min(lows) / 10) * 10 - 5)
    for ax in axes.flat:
        ax.set_xlim(left, 101)
        ax.set_ylim(-0.7, len(rows) - 0.3)
    for ax in axes.flat[len(columns):]:
        ax.axis("off")
    axes[0, 0].set_yticks(range(len(rows)), [label(m, t) for m, t in reversed(rows)])
    for ax in axes[-1]:
        ax.set_xlabel("accuracy (%)", fontsize=8)
    interval = (f"{confidence:.0%} interval over the benchmark's items" if counts
                else "± sd over seeds where there are several")
    if seeds is not None and any(t for _, t in rows) and part["n"].max() > 1:
        interval += ", ticks each seed"
    named = "" if all(t for _, t in rows) else f"; {MARK} (hollow): not trained here, one evaluation"
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0))
    # the budget statement grows a sentence with each kind of row: wrapped, it stays inside the figure
    fig.suptitle("SugarCrepe accuracy per category: dot the mean over seeds, line its " + interval + named + "\n"
                 + textwrap.fill(title, 160), fontsize=9)
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight() + 0.02, 1, 1))
    return fig


def plot_similarity(eval_paths: list[str]):
    """Overlaid histograms per method (seeds pooled), then per model of `models:` (dashed), image encoder left,
    text encoder right."""
    if not eval_paths:
        return _absent("The similarity benchmark")
    values: dict[tuple[str, bool], dict[str, list]] = {}
    for path in eval_paths:
        result = io.read_json(path)
        key = (result["method"], bool(result.get("trained", True)))
        for encoder in ("image", "text"):
            values.setdefault(key, {"image": [], "text": []})[encoder] += result["details"][encoder]
    values = dict(sorted(values.items(), key=lambda item: not item[0][1]))  # stable: trained first, config order
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, encoder in zip(axes, ("image", "text")):
        low = min(min(v[encoder]) for v in values.values())
        low = max(-1.0, math.floor(low * 10) / 10)  # the occupied part of [-1, 1], in steps of 0.1
        for (method, trained), v in values.items():
            ax.hist(v[encoder], bins=40, range=(low, 1), histtype="step", linewidth=1.5, density=True,
                    linestyle="-" if trained else "--",
                    label=f"{label(method, trained)} (mean {sum(v[encoder]) / len(v[encoder]):.2f})")
        ax.set_xlabel(f"cos({encoder}, negative {encoder})")
        ax.set_title(f"{encoder} encoder", fontsize=10)
        # below its panel, off the histograms, however many rows
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    axes[0].set_ylabel("density")
    fig.suptitle("How close each positive lies to its hard negative (TripletCLIP Fig. 4/5)", fontsize=10)
    return fig


def plot_training(train_logs: dict[tuple[str, int], str]):
    """Loss and in-distribution image->text R@1 against anchor pairs seen, one colour per method; trained runs
    only, the models of `models:` have no training log."""
    if not train_logs:
        return _note("No model was trained in this run (train.methods is empty)")
    fig, (loss_ax, r1_ax) = plt.subplots(1, 2, figsize=(11, 4))
    colours = {}
    for (method, seed), path in train_logs.items():
        log = pd.read_csv(path)
        colour = colours.setdefault(method, f"C{len(colours)}")
        label = method if seed == min(s for m, s in train_logs if m == method) else None
        loss_ax.plot(log["pairs_seen"], log["loss"], color=colour, linewidth=1, alpha=0.8, label=label)
        if "i2t_r1" in log:
            evals = log.dropna(subset=["i2t_r1"])
            r1_ax.plot(evals["pairs_seen"], evals["i2t_r1"], "o-", color=colour, markersize=3, linewidth=1,
                       alpha=0.8, label=label)
    loss_ax.set(xlabel="anchor pairs seen", ylabel="training loss (each method's own)", title="loss")
    r1_ax.set(xlabel="anchor pairs seen", ylabel="image→text R@1 (%)", title="in-distribution retrieval")
    # one legend for both panels, below them: inside, seven arms' labels covered the curves
    handles, labels = r1_ax.get_legend_handles_labels() if r1_ax.lines else loss_ax.get_legend_handles_labels()
    fig.tight_layout()
    # hung below the figure's bottom edge: savefig(bbox_inches="tight") takes it in
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(labels), 4), fontsize=8,
               frameon=False)
    return fig
