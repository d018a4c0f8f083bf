"""The report: every benchmark's metrics for every method and seed, their mean and spread over seeds, the compute
budget they were trained at, and the plots (SugarCrepe per category, similarity histograms, training curves).

Outputs: `results.csv` in long form (method, seed, benchmark, metric, value), `summary.csv` (mean, sd and n over
seeds), `results_wide.csv` (methods x benchmark/metric, means), `results.md` (the budget, one mean ± sd table
per benchmark and, with several seeds, each method's difference to CLIP paired by seed) and PNG plots.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from . import io  # noqa: E402
from .evals import BENCHMARKS  # noqa: E402
from .evals.sugarcrepe import CATEGORIES, GROUPS  # noqa: E402

LABELS = {"replace_obj": "Replace obj", "replace_att": "Replace att", "replace_rel": "Replace rel",
          "swap_obj": "Swap obj", "swap_att": "Swap att", "add_obj": "Add obj", "add_att": "Add att", "avg": "Avg",
          "replace": "Replace", "swap": "Swap", "add": "Add"}
# The paper's column order for SugarCrepe (TripletCLIP Table 2), then the group means.
SUGARCREPE_ORDER = list(CATEGORIES) + ["avg"] + list(GROUPS)
TITLES = {"sugarcrepe": "SugarCrepe accuracy (%)", "retrieval": "Retrieval recall@K (%)",
          "zeroshot": "Zero-shot classification accuracy (%)", "aro": "ARO accuracy (%), macro over groups",
          "winoground": "Winoground scores (%)",
          "similarity": "Cosine similarity of each positive and its hard negative (lower: kept further apart)"}


def collect(eval_paths: list[str]) -> pd.DataFrame:
    """The eval JSONs as one long table: method, seed, benchmark, metric, value."""
    rows = []
    for path in eval_paths:
        result = io.read_json(path)
        rows += [{"method": result["method"], "seed": result["seed"], "benchmark": result["benchmark"],
                  "metric": metric, "value": value} for metric, value in result["metrics"].items()]
    return pd.DataFrame(rows, columns=["method", "seed", "benchmark", "metric", "value"])


def _order(long: pd.DataFrame) -> pd.DataFrame:
    """Methods and seeds as they came (the config's order), benchmarks in suite order, SugarCrepe in the paper's."""
    def rank(metric, benchmark):
        return SUGARCREPE_ORDER.index(metric) if benchmark == "sugarcrepe" and metric in SUGARCREPE_ORDER else 99

    out = long.copy()
    out["_m"] = out["method"].map({m: i for i, m in enumerate(dict.fromkeys(long["method"]))})
    out["_b"] = out["benchmark"].map({b: i for i, b in enumerate(BENCHMARKS)})
    out["_k"] = [rank(m, b) for m, b in zip(out["metric"], out["benchmark"])]
    out["_first"] = out.groupby(["benchmark", "metric"], sort=False).ngroup()
    return out.sort_values(["_m", "seed", "_b", "_k", "_first"], kind="stable").drop(
        columns=["_m", "_b", "_k", "_first"]).reset_index(drop=True)


def summarize(long: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample standard deviation (0 for one seed) and number of seeds per method, benchmark and metric."""
    grouped = long.groupby(["method", "benchmark", "metric"], sort=False)["value"]
    summary = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1).fillna(0.0), "n": grouped.size()})
    return summary.reset_index()


def paired(long: pd.DataFrame, baseline: str = "clip") -> pd.DataFrame:
    """Each method's difference to `baseline`, seed by seed, then its mean, sd and n over seeds. A seed fixes the
    initial weights and the order of the data for every method alike, so much of what varies between seeds varies
    for all methods together; the paired difference leaves that out."""
    base = long[long["method"] == baseline].set_index(["seed", "benchmark", "metric"])["value"]
    others = long[long["method"] != baseline]
    keys = pd.MultiIndex.from_frame(others[["seed", "benchmark", "metric"]])
    diff = others.assign(value=others["value"].to_numpy() - base.reindex(keys).to_numpy()).dropna(subset=["value"])
    return summarize(diff)


def wide(summary: pd.DataFrame) -> pd.DataFrame:
    """Methods x "benchmark/metric" columns, means over seeds."""
    table = summary.assign(column=summary["benchmark"] + "/" + summary["metric"])
    columns = list(dict.fromkeys(table["column"]))
    return table.pivot(index="method", columns="column", values="mean").loc[
        list(dict.fromkeys(table["method"])), columns]


def headline(benchmark: str, metric: str) -> bool:
    """The metrics of the overview table: one or a few per benchmark."""
    return {"sugarcrepe": metric == "avg", "retrieval": metric.endswith("_r1"), "zeroshot": metric.endswith("_top1"),
            "aro": not metric.endswith("_all_relations"), "winoground": metric == "group"}.get(benchmark, True)


def _cells(part: pd.DataFrame, digits, sign: str = "") -> pd.DataFrame:
    return part.assign(cell=[f"{m:{sign}.{digits(b)}f} ± {s:.{digits(b)}f}"
                             for b, m, s in zip(part["benchmark"], part["mean"], part["std"])])


def _overview(summary: pd.DataFrame, digits, sign: str = "") -> pd.DataFrame:
    top = _cells(summary[[headline(b, m) for b, m in zip(summary["benchmark"], summary["metric"])]], digits, sign)
    top = top.assign(column=top["benchmark"] + "/" + top["metric"])
    return top.pivot(index="method", columns="column", values="cell").loc[
        list(dict.fromkeys(top["method"])), list(dict.fromkeys(top["column"]))]


def markdown(summary: pd.DataFrame, statement: str, differences: pd.DataFrame | None = None,
             baseline: str = "clip") -> str:
    """The budget, an overview (methods x headline metrics), with several seeds each method's paired difference to
    `baseline` (`differences`, from `paired`), then one table per benchmark; mean ± sd over seeds."""
    def digits(benchmark):
        return 3 if benchmark == "similarity" else 2

    parts = [statement, "Mean ± standard deviation over seeds.",
             "### Overview\n\n" + _overview(summary, digits).to_markdown()]
    if differences is not None and len(differences) and differences["n"].min() > 1:
        parts.append(f"### Difference to {baseline}, paired by seed\n\nEach seed starts every method from the same "
                     f"weights and feeds it the data in the same order: the mean ± sd over seeds of (method − "
                     f"{baseline}) at the same seed.\n\n" + _overview(differences, digits, "+").to_markdown())
    for benchmark in dict.fromkeys(summary["benchmark"]):
        part = summary[summary["benchmark"] == benchmark]
        table = _cells(part, digits).pivot(index="method", columns="metric", values="cell").loc[
            list(dict.fromkeys(part["method"])), list(dict.fromkeys(part["metric"]))]
        if benchmark == "sugarcrepe":
            table = table.rename(columns=LABELS)
        parts.append(f"### {TITLES.get(benchmark, benchmark)}\n\n" + table.to_markdown())
    return "\n\n".join(parts) + "\n"


def budget(metrics: list[str]) -> str:
    """The equal-compute statement, checked: every run must have seen the same number of anchor pairs."""
    runs = [io.read_json(path) for path in metrics]
    pairs = {m["pairs_seen"] for m in runs}
    if len(pairs) != 1:
        raise ValueError(f"the runs were not trained at equal compute: pairs seen {sorted(pairs)}")
    m = runs[0]
    seeds = sorted({r["seed"] for r in runs})
    return (f"Equal compute: every model saw {m['pairs_seen']:,} anchor pairs ({m['steps']:,} steps x global batch "
            f"{m['batch_size']:,}), {m['model']}, seeds {', '.join(map(str, seeds))}.")


def write_report(eval_paths: list[str], metrics: list[str], train_logs: dict[tuple[str, int], str],
                 outputs: dict[str, str]) -> pd.DataFrame:
    """Write every output named in `outputs` (keys: csv, summary, wide, markdown, sugarcrepe_plot,
    similarity_plot, training_plot); a plot whose benchmark was not run is drawn as a note saying so."""
    long = _order(collect(eval_paths))
    summary = summarize(long)
    statement = budget(metrics)
    for key, frame, index in (("csv", long, False), ("summary", summary, False), ("wide", wide(summary), True)):
        with io.atomic_path(outputs[key]) as tmp:
            frame.to_csv(tmp, index=index, float_format="%.4f")
    with io.atomic_path(outputs["markdown"]) as tmp:
        tmp.write_text(markdown(summary, statement, paired(long) if "clip" in set(long["method"]) else None),
                       encoding="utf-8")
    figures = {"sugarcrepe_plot": plot_sugarcrepe(summary, statement),
               "similarity_plot": plot_similarity([p for p in eval_paths if io.read_json(p)["benchmark"] == "similarity"]),
               "training_plot": plot_training(train_logs)}
    for key, fig in figures.items():
        with io.atomic_path(outputs[key]) as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
    return summary


def _absent(what: str):
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{what} was not part of this run (eval.benchmarks)", ha="center", va="center")
    return fig


def plot_sugarcrepe(summary: pd.DataFrame, title: str):
    part = summary[summary["benchmark"] == "sugarcrepe"]
    if part.empty:
        return _absent("SugarCrepe")
    columns = [c for c in list(CATEGORIES) + ["avg"] if c in set(part["metric"])]
    methods = list(dict.fromkeys(part["method"]))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        rows = part[part["method"] == method].set_index("metric").loc[columns]
        xs = [c + (i - (len(methods) - 1) / 2) * width for c in range(len(columns))]
        bars = ax.bar(xs, rows["mean"], width, yerr=rows["std"], capsize=2, label=method)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.axhline(50, color="gray", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(range(len(columns)), [LABELS[c] for c in columns])
    ax.set_ylabel("accuracy (%), mean ± sd over seeds")
    ax.set_ylim(0, 105)
    ax.set_title(f"SugarCrepe accuracy per category\n{title}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_similarity(eval_paths: list[str]):
    """Overlaid histograms per method (seeds pooled), image encoder left, text encoder right."""
    if not eval_paths:
        return _absent("The similarity benchmark")
    values: dict[str, dict[str, list]] = {}
    for path in eval_paths:
        result = io.read_json(path)
        for encoder in ("image", "text"):
            values.setdefault(result["method"], {"image": [], "text": []})[encoder] += result["details"][encoder]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, encoder in zip(axes, ("image", "text")):
        low = min(min(v[encoder]) for v in values.values())
        low = max(-1.0, math.floor(low * 10) / 10)  # the occupied part of [-1, 1], in steps of 0.1
        for method, v in values.items():
            ax.hist(v[encoder], bins=40, range=(low, 1), histtype="step", linewidth=1.5, density=True,
                    label=f"{method} (mean {sum(v[encoder]) / len(v[encoder]):.2f})")
        ax.set_xlabel(f"cos({encoder}, negative {encoder})")
        ax.set_title(f"{encoder} encoder", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("density")
    fig.suptitle("How close each positive lies to its hard negative (TripletCLIP Fig. 4/5)", fontsize=10)
    return fig


def plot_training(train_logs: dict[tuple[str, int], str]):
    """Loss and in-distribution image->text R@1 against anchor pairs seen, one colour per method."""
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
    for ax in (loss_ax, r1_ax):
        ax.legend(fontsize=8)
    return fig
