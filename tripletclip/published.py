"""Published results beside ours: the reproduction check.

`evals/data/published.csv` holds numbers the papers print, one per row: benchmark and metric (named as our
evaluators name them: SugarCrepe's categories and `avg`, the mean of the seven; ARO's datasets under the names
`vg_relation`, `vg_attribution`, `coco_order`, `flickr30k_order`; zero-shot `imagenet1k_top1`; retrieval
`flickr30k_i2t_r5`, ...), the model (an open_clip architecture), its pretrained tag (open_clip's, e.g. `openai`, or
a name for a checkpoint its authors released, e.g. `negclip`, `ce-clip`, `cc3m-tripletclip`), the value (%) and
the source (paper and table). A row of our report matches published rows:
- by itself, when it is a model of `models:` (or the init model) whose architecture and tag are those of published
  rows (`ViT-B-32-quickgelu` matches `ViT-B-32`: the same weights, see tripletclip.models);
- when `report.published` names it: {row: {model, pretrained}}, for a checkpoint file or a method trained here
  (e.g. `tripletclip: {model: ViT-B-32, pretrained: cc3m-tripletclip}` after training on CC3M).
The report then shows, per matched metric, ours, the published value and the difference (`compare`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

PATH = Path(__file__).parent / "evals" / "data" / "published.csv"
COLUMNS = ("benchmark", "metric", "model", "pretrained", "value", "source")
COMPARISON = ("row", "model", "pretrained", "benchmark", "metric", "ours", "published", "difference", "source")


def architecture(name: str) -> str:
    """open_clip's architecture name without the QuickGELU suffix, which changes the activation, not the weights."""
    return name.removesuffix("-quickgelu")


def load(path: str | Path = PATH) -> list[dict]:
    """The published rows, as dicts of `COLUMNS` (value a float). ValueError naming the file and line of a row
    that lacks a column or whose value is not a number. csv, not pandas: the DAG build reads it too."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                rows.append({**{c: row[c] for c in COLUMNS}, "value": float(row["value"])})
            except (TypeError, ValueError):
                raise ValueError(f"{path}, line {line}: value {row.get('value')!r} is not a number") from None
    return rows


def published_models(rows: list[dict]) -> set[tuple[str, str]]:
    """The (architecture, pretrained) pairs that have published rows."""
    return {(architecture(r["model"]), r["pretrained"]) for r in rows}


def matches(specs: dict[str, dict], chosen: dict[str, dict], rows: list[dict]) -> dict[str, tuple[str, str]]:
    """{report row: (architecture, pretrained)} of the rows with published numbers: `chosen` (report.published,
    {row: {"model", "pretrained"}}) first, then every model spec of `specs` ({row: {"model", "pretrained", ...}},
    the models of `models:`) whose architecture and tag have published rows. ValueError when `chosen` names a
    model and tag with no published row (listing those there are)."""
    known = published_models(rows)
    out = {}
    for row, target in chosen.items():
        key = (architecture(target["model"]), target["pretrained"])
        if key not in known:
            raise ValueError(f"report.published.{row}: no published row for model {target['model']!r}, pretrained "
                             f"{target['pretrained']!r}; {PATH.name} has "
                             + ", ".join(f"{m} {p}" for m, p in sorted(known)))
        out[row] = key
    for row, spec in specs.items():
        key = (architecture(str(spec.get("model"))), str(spec.get("pretrained")))
        if row not in out and key in known:
            out[row] = key
    return out


def compare(summary: pd.DataFrame, matched: dict[str, tuple[str, str]], rows: list[dict],
            real: set[str] | frozenset[str]) -> pd.DataFrame:
    """One row per (matched report row, published metric it was evaluated on), columns `COMPARISON`: ours (the mean
    over seeds, `summary`'s "mean"; a model of `models:` has one evaluation), published, difference (ours minus
    published, points) and the source. Only the benchmarks of `real`, those run on their real data: a shapes
    analogue's accuracy is no reproduction of a paper's. A published metric the run did not measure (a benchmark
    not run, a dataset named otherwise) is left out."""
    ours = summary.set_index(["method", "benchmark", "metric"])["mean"]
    out = []
    for row, (model, pretrained) in matched.items():
        for r in rows:
            if (architecture(r["model"]), r["pretrained"]) != (model, pretrained) or r["benchmark"] not in real:
                continue
            value = ours.get((row, r["benchmark"], r["metric"]))
            if value is None or pd.isna(value):
                continue
            out.append([row, r["model"], pretrained, r["benchmark"], r["metric"], float(value), r["value"],
                        float(value) - r["value"], r["source"]])
    return pd.DataFrame(out, columns=COMPARISON)


def markdown(comparison: pd.DataFrame) -> str:
    """The results.md section: ours, published and the difference per matched row and metric."""
    if comparison.empty:
        return ""
    table = comparison.assign(
        model=comparison["model"] + " " + comparison["pretrained"],
        metric=comparison["benchmark"] + "/" + comparison["metric"],
        ours=comparison["ours"].map("{:.2f}".format), published=comparison["published"].map("{:.2f}".format),
        difference=comparison["difference"].map("{:+.2f}".format))
    text = ("### Published numbers beside ours\n\nEach row whose model has numbers in the papers (`models:` "
            "entries by architecture and tag, others by `report.published`): ours, the paper's and ours minus the "
            "paper's, on the benchmarks run on their real data: the reproduction check.")
    columns = ["row", "model", "metric", "ours", "published", "difference", "source"]
    return text + "\n\n" + table[columns].to_markdown(index=False, disable_numparse=True)
