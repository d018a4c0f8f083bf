"""The report: SugarCrepe accuracies of every method and seed, their mean and spread over seeds, and the compute
budget they were trained at, as CSV, Markdown and a grouped bar chart."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from . import io  # noqa: E402
from .sugarcrepe import CATEGORIES  # noqa: E402

LABELS = {"replace_obj": "Replace obj", "replace_att": "Replace att", "replace_rel": "Replace rel",
          "swap_obj": "Swap obj", "swap_att": "Swap att", "add_obj": "Add obj", "add_att": "Add att", "avg": "Avg"}
COLUMNS = list(CATEGORIES) + ["avg"]


def sugarcrepe_table(results: dict[tuple[str, int], str]) -> pd.DataFrame:
    """{(method, seed): eval JSON path} -> one row per run, the seven categories in the paper's order, then avg."""
    rows = [{"method": method, "seed": seed, **io.read_json(path)} for (method, seed), path in results.items()]
    return pd.DataFrame(rows).set_index(["method", "seed"])[COLUMNS].round(2)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds (0 for a single seed), per method, in the config's method order."""
    grouped = table.groupby(level="method", sort=False)
    summary = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1).fillna(0.0)}, names=["statistic"])
    return summary.swaplevel().loc[list(dict.fromkeys(table.index.get_level_values("method")))].round(2)


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


def write_report(results: dict[tuple[str, int], str], metrics: list[str], csv_path: str, summary_path: str,
                 markdown_path: str, plot_path: str) -> pd.DataFrame:
    table = sugarcrepe_table(results)
    summary = summarize(table)
    statement = budget(metrics)
    with io.atomic_path(csv_path) as tmp:
        table.to_csv(tmp)
    with io.atomic_path(summary_path) as tmp:
        summary.to_csv(tmp)
    cells = pd.DataFrame({c: [f"{summary.loc[(m, 'mean'), c]:.2f} ± {summary.loc[(m, 'std'), c]:.2f}"
                              for m in summary.index.unique("method")] for c in COLUMNS},
                         index=summary.index.unique("method"))
    with io.atomic_path(markdown_path) as tmp:
        tmp.write_text(f"{statement}\n\nSugarCrepe accuracy (%), mean ± standard deviation over seeds:\n\n"
                       + cells.rename(columns=LABELS).to_markdown() + "\n")
    with io.atomic_path(plot_path) as tmp:
        plot(summary, statement).savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return summary


def plot(summary: pd.DataFrame, title: str):
    methods = list(summary.index.unique("method"))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        xs = [c + (i - (len(methods) - 1) / 2) * width for c in range(len(COLUMNS))]
        mean, std = summary.loc[(method, "mean"), COLUMNS], summary.loc[(method, "std"), COLUMNS]
        bars = ax.bar(xs, mean, width, yerr=std, capsize=2, label=method)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.axhline(50, color="gray", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(range(len(COLUMNS)), [LABELS[c] for c in COLUMNS])
    ax.set_ylabel("accuracy (%), mean ± sd over seeds")
    ax.set_ylim(0, 105)
    ax.set_title(f"SugarCrepe accuracy per category\n{title}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    return fig
