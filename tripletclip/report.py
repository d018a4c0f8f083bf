"""The report: SugarCrepe accuracies of every method as CSV, Markdown and a grouped bar chart."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from . import io  # noqa: E402
from .sugarcrepe import CATEGORIES  # noqa: E402

LABELS = {"replace_obj": "Replace obj", "replace_att": "Replace att", "replace_rel": "Replace rel",
          "swap_obj": "Swap obj", "swap_att": "Swap att", "add_obj": "Add obj", "add_att": "Add att", "avg": "Avg"}


def sugarcrepe_table(results: dict[str, str]) -> pd.DataFrame:
    """{method: eval JSON path} -> one row per method; the seven categories in the paper's order, then avg."""
    rows = {method: io.read_json(path) for method, path in results.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")[list(CATEGORIES) + ["avg"]]
    table.index.name = "method"
    return table.round(2)


def write_report(results: dict[str, str], csv_path: str, markdown_path: str, plot_path: str) -> pd.DataFrame:
    table = sugarcrepe_table(results)
    with io.atomic_path(csv_path) as tmp:
        table.to_csv(tmp)
    with io.atomic_path(markdown_path) as tmp:
        tmp.write_text(table.rename(columns=LABELS).to_markdown(floatfmt=".2f") + "\n")
    with io.atomic_path(plot_path) as tmp:
        plot(table).savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return table


def plot(table: pd.DataFrame):
    columns = list(CATEGORIES) + ["avg"]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(table)
    for i, (method, row) in enumerate(table.iterrows()):
        xs = [c + (i - (len(table) - 1) / 2) * width for c in range(len(columns))]
        bars = ax.bar(xs, row[columns], width, label=method)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.axhline(50, color="gray", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(range(len(columns)), [LABELS[c] for c in columns])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("SugarCrepe accuracy per category")
    ax.legend(loc="lower right", fontsize=8)
    return fig
