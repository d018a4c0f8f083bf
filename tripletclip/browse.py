"""The error browser: one self-contained HTML page (results/report/browse.html) of the items the models get wrong.

A reader picks a benchmark, a category and a model and sees the items that model gets wrong: the image (both images
for a Winoground item), the captions (the positive and the negative), that model's scores, and every other model's
verdict on the same item. A second view lists the items "where the models disagree most", the most evenly split
first.

The page needs nothing but a browser: the data is one JSON blob in a <script> tag, rendered by a little vanilla
JavaScript into select boxes and a table; the thumbnails are base64 JPEG data URIs; its Content-Security-Policy
forbids every request that is not one (`default-src 'none'`).

Models. `samples` holds one row per model and item, its `model` column the name. Where a `seed` column holds a
value, the row's model is "{model} seed {seed}": every seed of a trained method is a model of its own (the item-level
verdicts of two seeds differ, and averaging them would hide that); a model of `models:` (no seed) keeps its name.

Size. Each view (a benchmark, category and model's wrong items; a benchmark and category's disagreements) lists at
most `max_per_view` items, and the page embeds at most `max_images` thumbnails (`MAX_IMAGES`, 1000: about 3-4 KB each
at 96 px, so 3-4 MB of images). Every image is embedded once, however many items and views show it. Images are
handed out by position: the first item of every view gets its image(s) before the second item of any, so that every
view's first items show theirs; an item past the cap shows its file name instead. A page from the full benchmarks
and a dozen models is a few MB.

Which benchmarks: those whose table has `correct` and an image column (`IMAGE_COLUMNS`: `image`, `image_0` /
`image_1`, `negative_image`), their images where the registry entry's `images` says. Zero-shot and the linear probe
(no image column: a `sample_id` is the image's key) and similarity (no `correct`) are left out, and the page says so.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .evals import registry

MAX_IMAGES = 1000
# An item's text and images: the same for every model that scored it (the first row's are shown).
TEXT_COLUMNS = {"caption": "caption", "negative_caption": "negative", "caption_0": "caption 0",
                "caption_1": "caption 1", "caption2": "caption 2", "label": "label"}
IMAGE_COLUMNS = {"image": "image", "image_0": "image 0", "image_1": "image 1",
                 "negative_image": "negative image"}  # the image among K: the best false one
# What each model says of an item, beside its verdict (`correct`).
MODEL_COLUMNS = {"score_positive": "positive", "score_negative": "negative",
                 "c0_i0": "s(caption 0, image 0)", "c0_i1": "s(caption 0, image 1)",
                 "c1_i0": "s(caption 1, image 0)", "c1_i1": "s(caption 1, image 1)",
                 "text_correct": "text right", "image_correct": "image right", "rank": "rank",
                 "predicted": "predicted", "retrieved": "retrieved"}
# Winoground names its images without their extension (ex_{id}_img_{k}): the files are {name}.png.
IMAGE_SUFFIXES = ("", ".png", ".jpg", ".jpeg")


def _label(name: str) -> str:
    return registry.REGISTRY[name].label if name in registry.REGISTRY else name


class EmbeddedImages:
    """The images of a benchmark that its evaluator alone can read: `read(names)` gives {name: encoded bytes}
    through the benchmark module's `image_bytes(spec, root, names)`, the names being its per-sample table's image
    values. Read once per page, for the names the page shows."""

    def __init__(self, benchmark: str, spec: dict, root: str = "."):
        self.benchmark, self.spec, self.root = benchmark, spec, root

    def read(self, names: set[str]) -> dict[str, bytes]:
        from .evals import module

        return module(self.benchmark).image_bytes(self.spec, self.root, names)

    def __repr__(self) -> str:
        return f"EmbeddedImages({self.benchmark!r}, {self.spec!r}, {self.root!r})"


def image_roots(benchmark: str, spec: dict, root: str = ".") -> dict[str, str | EmbeddedImages]:
    """Where the per-sample tables' images are, as the evaluators find them (tripletclip/evals: each benchmark's
    spec, its paths relative to `root`; the registry entry's `images` says how): {benchmark or "benchmark/category":
    the folder its image paths start from, or, for a benchmark whose images only its evaluator can read (inside
    parquet files, or in one of several folders per item), an `EmbeddedImages` that asks its `image_bytes`}."""
    return {key: EmbeddedImages(benchmark, spec, root) if value == registry.EMBEDDED else value
            for key, value in registry.get(benchmark).image_roots(spec, root).items()}


def model_labels(samples: pd.DataFrame) -> pd.Series:
    """Each row's model as the page names it: `model`, with " seed {seed}" where a `seed` column holds a value."""
    names = samples["model"].astype(str)
    if "seed" not in samples:
        return names
    return pd.Series([name if _missing(seed) else f"{name} seed {_seed(seed)}"
                      for name, seed in zip(names, samples["seed"])], index=samples.index, dtype=object)


def write_browser(samples: pd.DataFrame, image_roots: dict[str, str | EmbeddedImages], output: str,
                  title: str = "Where the models go wrong", max_per_view: int = 200, thumbnail: int = 96,
                  max_images: int = MAX_IMAGES) -> None:
    """Write the browser to `output`: one self-contained HTML page (the module's docstring says what it shows).

    samples: every model's per-sample table (tripletclip/evals) concatenated, with the columns `model` (str) and
    `benchmark` beside them, and `seed` where there is one (see `model_labels`). image_roots: benchmark -> the
    folder its `image` / `image_0` / `image_1` paths are relative to, or an `EmbeddedImages` that reads them by
    name; a key "{benchmark}/{category}" overrides it for one category (ARO's datasets and VL-CheckList's files
    each have their own folder). Items of benchmarks without an image column or without
    `correct` are left out. At most `max_per_view` items per view and `max_images` thumbnails of `thumbnail` px.
    ValueError when a column is missing or a model has two rows for one item."""
    data = browser_data(samples, image_roots, title, max_per_view, thumbnail, max_images)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(data), encoding="utf-8")


def browser_data(samples: pd.DataFrame, image_roots: dict[str, str | EmbeddedImages], title: str, max_per_view: int,
                 thumbnail: int, max_images: int) -> dict:
    """The page's JSON: {title, max_per_view, max_images, thumbnail, images (data URIs), images_shown (how many
    image slots show one), left_out (benchmarks not shown, with why), benchmarks: [{name, label, models, texts,
    images, fields ([column, label] each), categories: [{name, items, wrong, disagree}]}]}. An item is {id, text:
    {column: str}, images: [[path, image index or null, why none]], verdicts: [true/false/null per model], values:
    [[str per field] or null per model]}; wrong: per model {total, scored, shown: [item index]}; disagree: {total,
    shown, split: [[models right, models that scored it]]}."""
    missing = {"model", "benchmark", "category", "sample_id"} - set(samples.columns)
    if samples.empty:  # no evaluation at all (the report's collect_samples of nothing): a page that says so
        samples = pd.DataFrame(columns=sorted(missing | set(samples.columns)))
    elif missing:
        raise ValueError(f"browse: the samples lack the column(s) {', '.join(sorted(missing))}")
    if max_per_view < 1 or thumbnail < 8:
        raise ValueError(f"browse: max_per_view must be >= 1 and thumbnail >= 8, got {max_per_view}, {thumbnail}")
    frame = samples.assign(_model=model_labels(samples), category=samples["category"].map(_text).fillna(""),
                           sample_id=samples["sample_id"].map(_text))
    benchmarks, left_out, wanted = [], [], []
    for name, rows in frame.groupby("benchmark", sort=False):
        name = str(name)
        rows = rows.dropna(axis=1, how="all")  # the columns only another benchmark's tables hold
        why = _why_left_out(rows)
        if why:
            left_out.append({"name": name, "label": _label(name), "why": why})
            continue
        bench = {"name": name, "label": _label(name), "models": list(dict.fromkeys(rows["_model"])),
                 "texts": [[c, label] for c, label in TEXT_COLUMNS.items() if c in rows],
                 "images": [[c, label] for c, label in IMAGE_COLUMNS.items() if c in rows],
                 "fields": [[c, label] for c, label in MODEL_COLUMNS.items() if c in rows], "categories": []}
        for category, cat_rows in rows.groupby("category", sort=False):
            root = image_roots.get(f"{name}/{category}", image_roots.get(name))
            cat, requests = _category(bench, category, cat_rows, max_per_view)
            bench["categories"].append(cat)
            wanted += [(position, item, root) for position, item in requests]
        benchmarks.append(bench)
    images, shown = _embed_images(wanted, thumbnail, max_images)
    return {"title": title, "max_per_view": max_per_view, "max_images": max_images, "thumbnail": thumbnail,
            "images": images, "images_shown": shown, "left_out": left_out, "benchmarks": benchmarks}


def page(data: dict) -> str:
    """The HTML page of `browser_data`'s dict."""
    # In a <script> element only "</script" (or "<!--") would end the JSON early; "<", ">" and "&" escaped as
    # JSON's \\u escapes cannot form either.
    blob = (json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    title = html.escape(data["title"])
    return (_HEAD.replace("{title}", title) + f"<h1>{title}</h1>\n" + _BODY
            + f'<script type="application/json" id="data">{blob}</script>\n<script>{_SCRIPT}</script>\n'
            + "</body>\n</html>\n")


def _category(bench: dict, category: str, rows: pd.DataFrame, max_per_view: int) -> tuple[dict, list]:
    """One category's item lists and the images its views ask for: (category, [(position in a view, item)])."""
    duplicated = rows.duplicated(["_model", "sample_id"])
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise ValueError(f"browse: {first['_model']} has several rows for {bench['name']} / {category} / "
                         f"{first['sample_id']}: name each seed of a method apart (a `seed` column)")
    models = bench["models"]
    ids = pd.unique(rows["sample_id"])
    verdict = (rows.pivot(index="sample_id", columns="_model", values="correct")
               .reindex(index=ids, columns=models).astype("boolean"))
    scored = verdict.notna().to_numpy()
    right = verdict.to_numpy(dtype=bool, na_value=False)
    wrong_views = []
    for m in range(len(models)):
        wrong = np.flatnonzero(scored[:, m] & ~right[:, m])  # the benchmark's order
        wrong_views.append((len(wrong), int(scored[:, m].sum()), wrong[:max_per_view]))
    n, k = scored.sum(axis=1), right.sum(axis=1)
    minority = np.minimum(k, n - k)
    split = minority / np.maximum(n, 1)  # 0.5: half right, half wrong; 0: unanimous
    split_items = np.flatnonzero(minority > 0)
    split_items = split_items[np.argsort(-split[split_items], kind="stable")]  # ties: the benchmark's order
    disagree = split_items[:max_per_view]

    shown = sorted(set(disagree.tolist()).union(*(set(w[2].tolist()) for w in wrong_views)))
    index = {row: i for i, row in enumerate(shown)}
    shown_ids = ids[shown] if shown else np.array([], dtype=object)
    first = rows.drop_duplicates("sample_id").set_index("sample_id").reindex(shown_ids)
    fields = [c for c, _ in bench["fields"]]
    values = {(sid, model): [_text(v) for v in vals] for sid, model, *vals in
              rows.loc[rows["sample_id"].isin(set(shown_ids)), ["sample_id", "_model", *fields]]
              .itertuples(index=False, name=None)}
    items = []
    for row, sid in zip(shown, shown_ids):
        record = first.loc[sid]
        items.append({
            "id": sid,
            "text": {c: _text(record[c]) for c, _ in bench["texts"] if _text(record[c]) is not None},
            # filled in by _embed_images: [path, image index or None, why none]
            "images": [[_text(record[c]), None, None] for c, _ in bench["images"]],
            "verdicts": [None if not scored[row, m] else bool(right[row, m]) for m in range(len(models))],
            "values": [values.get((sid, model)) for model in models],
        })
    requests = [(position, items[index[row]]) for rows_shown in [disagree, *(w[2] for w in wrong_views)]
                for position, row in enumerate(rows_shown)]
    category_data = {
        "name": category, "items": items,
        "wrong": [{"total": total, "scored": count, "shown": [index[r] for r in rows_shown]}
                  for total, count, rows_shown in wrong_views],
        "disagree": {"total": len(split_items), "shown": [index[r] for r in disagree],
                     "split": [[int(k[r]), int(n[r])] for r in disagree]},
    }
    return category_data, requests


def _embed_images(wanted: list, thumbnail: int, max_images: int) -> tuple[list[str], int]:
    """Fill in the items' image slots, each file embedded once, the first positions of every view first, until
    `max_images` files are embedded: (the data URIs, how many slots show an embedded image)."""
    wanted = sorted(wanted, key=lambda w: w[0])  # stable: ties keep the benchmarks' order
    embedded = _read_embedded(wanted, max_images)
    images, by_file, uses, done = [], {}, 0, set()
    for _, item, root in wanted:
        if id(item) in done:  # an item in several views: its earliest position decides
            continue
        done.add(id(item))
        for slot in item["images"]:
            path = slot[0]
            if path is None:  # the item has no image in this column (SPEC's text-to-image negative on an
                continue      # image-to-text item): the page shows nothing there
            if root is None:
                slot[2] = "no image folder given"
                continue
            if isinstance(root, EmbeddedImages):
                file = (id(root), path) if path in embedded[id(root)] else None
            else:
                file = _find(Path(root), path)
            if file is None:
                slot[2] = "not found"
                continue
            if file not in by_file:
                if len(images) >= max_images:
                    slot[2] = f"past the page's {max_images} images"
                    continue
                try:
                    source = io.BytesIO(embedded[file[0]][path]) if isinstance(file, tuple) else file
                    images.append(_thumbnail(source, thumbnail))
                except OSError as error:  # PIL's UnidentifiedImageError is one
                    slot[2] = f"unreadable ({type(error).__name__})"
                    continue
                by_file[file] = len(images) - 1
            slot[1] = by_file[file]
            uses += 1
    return images, uses


def _read_embedded(wanted: list, max_images: int) -> dict[int, dict[str, bytes]]:
    """{id of an `EmbeddedImages`: {name: bytes}} for the images of `wanted` (sorted) that the page may show: each
    source read once, for its first `max_images` distinct names at most (no more can be embedded)."""
    sources, names = {}, {}
    for _, item, root in wanted:
        if isinstance(root, EmbeddedImages):
            sources[id(root)] = root
            chosen = names.setdefault(id(root), {})
            for path, _, _ in item["images"]:
                if path is not None and len(chosen) < max_images:
                    chosen[path] = None
    return {key: sources[key].read(set(chosen)) for key, chosen in names.items()}


def _find(root: Path, path: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        file = root / (path + suffix)
        if file.is_file():
            return file.resolve()
    return None


def _thumbnail(file, size: int) -> str:
    """A JPEG data URI of the image at `file` (a path or a binary file object), no side longer than `size` px."""
    with Image.open(file) as image:
        image.draft("RGB", (size, size))  # a JPEG decodes at a fraction of its size: COCO's images load fast
        if image.mode in ("RGBA", "LA", "PA", "P"):  # transparent pixels on white, not on black
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, "white")
            image.paste(rgba, mask=rgba.getchannel("A"))
        else:
            image = image.convert("RGB")
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _why_left_out(rows: pd.DataFrame) -> str | None:
    if "correct" not in rows:
        return "no `correct`: nothing is right or wrong"
    if not any(c in rows for c in IMAGE_COLUMNS):
        return "no image column"
    return None


def _missing(value) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and pd.isna(value))


def _seed(value) -> str:
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _text(value) -> str | None:
    """A cell as the page shows it: None for a missing value, yes/no, integers as they are, floats to 4 places."""
    if _missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4f}" if math.isfinite(value) else str(value)
    return str(value)


_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
.note { color: #555; max-width: 70em; margin: .2em 0; }
#controls { display: flex; flex-wrap: wrap; gap: 1.2em; margin: .8em 0; padding: .6em .8em; background: #f3f3f0;
            border-radius: 4px; }
#controls label { font-weight: 600; }
#controls select { margin-left: .4em; font: inherit; }
#summary { font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .35em .5em; text-align: left; vertical-align: top; }
th { background: #fafafa; }
td.id { font-family: ui-monospace, monospace; white-space: nowrap; }
td.images { white-space: nowrap; }
figure { display: inline-block; margin: 0 .4em 0 0; text-align: center; }
figure img { display: block; border: 1px solid #ccc; }
figcaption, .missing { font-size: .8em; color: #777; }
.missing { display: inline-block; border: 1px dashed #bbb; padding: .5em; max-width: 10em; word-break: break-all; }
.text { margin: .1em 0; }
.text b { color: #555; font-weight: 600; margin-right: .3em; }
.text.negative_caption { color: #a33; }
dl { margin: 0; display: grid; grid-template-columns: auto auto; gap: 0 .6em; }
dt { color: #555; white-space: nowrap; } dd { margin: 0; font-variant-numeric: tabular-nums; }
.verdict { display: inline-block; margin: .1em .3em .1em 0; padding: 0 .4em; border-radius: 3px; white-space: nowrap; }
.verdict.right { background: #dff3df; color: #1a5e1a; }
.verdict.wrong { background: #f8dddd; color: #8a1f1f; }
</style>
</head>
<body>
"""

_BODY = """<p class="note" id="about"></p>
<div id="controls">
<label>View <select id="view">
<option value="wrong">Items a model gets wrong</option>
<option value="disagree">Where the models disagree most</option>
</select></label>
<label>Benchmark <select id="benchmark"></select></label>
<label>Category <select id="category"></select></label>
<label id="model-control">Model <select id="model"></select></label>
</div>
<p id="summary"></p>
<table id="items"><thead></thead><tbody></tbody></table>
"""

# Every string reaches the page through createTextNode / setAttribute (el() below), never as HTML: captions that
# hold < & " show as written.
_SCRIPT = r"""
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function fill(select, options) {  // options: [value, label]; keeps the choice when it is still offered
  const keep = select.value;
  select.replaceChildren(...options.map(([value, label]) => el("option", {value: value}, label)));
  if (options.some(([value]) => value === keep)) select.value = keep;
}

const bench = () => DATA.benchmarks.find((b) => b.name === $("benchmark").value);
const category = () => bench().categories.find((c) => c.name === $("category").value);

function about() {
  const parts = [
    `Each seed of a trained method is a model of its own ("tripletclip seed 0"); a model evaluated as given keeps ` +
    `its name. A view lists at most ${DATA.max_per_view} items: a model's wrong items in the benchmark's order, ` +
    `the disagreements most evenly split first (unanimous items are not listed).`,
    `The page embeds at most ${DATA.max_images} thumbnails (${DATA.thumbnail} px; ${DATA.images.length} here), ` +
    `each view's first items first; an item past the cap shows its file name.`];
  if (DATA.left_out.length)
    parts.push("Not shown: " + DATA.left_out.map((b) => `${b.label} (${b.why})`).join("; ") + ".");
  $("about").textContent = parts.join(" ");
}

function images(item) {
  const cell = el("td", {class: "images"});
  bench().images.forEach(([column, label], i) => {
    const [path, index, why] = item.images[i];
    if (path === null) return;  // no image of this column for this item
    const shown = index === null
      ? el("span", {class: "missing", title: path || ""}, `${path || ""} (${why})`)
      : el("img", {src: DATA.images[index], alt: path, title: path});
    cell.append(el("figure", {}, shown, bench().images.length > 1 ? el("figcaption", {}, label) : null));
  });
  return cell;
}

function texts(item) {
  const cell = el("td", {class: "texts"});
  for (const [column, label] of bench().texts)
    if (column in item.text) cell.append(el("div", {class: "text " + column}, el("b", {}, label + ":"), " ",
                            item.text[column]));
  return cell;
}

function values(item, m) {
  const list = el("dl", {"data-model": bench().models[m]});
  const vals = item.values[m] || [];
  bench().fields.forEach(([column, label], i) => {
    if (vals[i] !== null && vals[i] !== undefined) list.append(el("dt", {}, label), el("dd", {class: column}, vals[i]));
  });
  return list;
}

function verdicts(item, skip) {  // every model's verdict but model `skip`'s
  const cell = el("td", {class: "verdicts"});
  const b = bench();
  b.models.forEach((model, m) => {
    if (m === skip || item.verdicts[m] === null) return;
    const right = item.verdicts[m];
    const vals = item.values[m] || [];
    const title = b.fields.map(([c, label], i) => vals[i] === null ? null : `${label} ${vals[i]}`)
      .filter((t) => t !== null).join(", ");
    cell.append(el("span", {class: "verdict " + (right ? "right" : "wrong"),
                            "data-model": model, "data-verdict": right ? "right" : "wrong", title: title},
                    (right ? "\u2713 " : "\u2717 ") + model));
  });
  return cell;
}

function row(item, extra) {
  return el("tr", Object.assign({"data-benchmark": bench().name, "data-category": category().name,
                                 "data-sample-id": item.id}, extra));
}

function render() {
  const view = $("view").value, b = bench(), c = category();
  $("model-control").hidden = view !== "wrong";
  const table = $("items");
  table.setAttribute("data-view", view);
  const place = `${b.label} / ${c.name || "(no category)"}`;
  let head, rows, summary;
  if (view === "wrong") {
    const m = b.models.indexOf($("model").value), w = c.wrong[m], model = b.models[m];
    summary = `${model} gets ${w.total} of the ${w.scored} items of ${place} wrong` +
      (w.total > w.shown.length ? `: the first ${w.shown.length} shown (at most ${DATA.max_per_view} per view).` : ".");
    head = ["Sample", "Image", "Captions", `Scores of ${model}`, "Every other model"];
    rows = w.shown.map((i) => {
      const item = c.items[i], tr = row(item, {"data-model": model});
      tr.append(el("td", {class: "id"}, item.id), images(item), texts(item),
                el("td", {class: "values"}, values(item, m)), verdicts(item, m));
      return tr;
    });
  } else {
    const d = c.disagree;
    summary = `${d.total} item${d.total === 1 ? "" : "s"} of ${place} split the ${b.models.length} models` +
      (d.total > d.shown.length ? `: the ${d.shown.length} most split shown (at most ${DATA.max_per_view} per view).`
                                : ".");
    head = ["Sample", "Image", "Captions", "Right", "Every model (hover: its scores)"];
    rows = d.shown.map((i, j) => {
      const item = c.items[i], [right, scored] = d.split[j];
      const tr = row(item, {"data-right": right, "data-scored": scored});
      tr.append(el("td", {class: "id"}, item.id), images(item), texts(item),
                el("td", {class: "split"}, `${right} of ${scored}`), verdicts(item, -1));
      return tr;
    });
  }
  $("summary").textContent = summary;
  table.tHead.replaceChildren(el("tr", {}, ...head.map((h) => el("th", {}, h))));
  table.tBodies[0].replaceChildren(...rows);
}

function onBenchmark() {
  const b = bench();
  fill($("category"), b.categories.map((c) => [c.name, c.name || "(no category)"]));
  fill($("model"), b.models.map((m) => [m, m]));
  render();
}

about();
if (DATA.benchmarks.length === 0) {
  $("controls").hidden = true;
  $("summary").textContent = "No benchmark here has per-item verdicts and images.";
} else {
  fill($("benchmark"), DATA.benchmarks.map((b) => [b.name, b.label]));
  $("benchmark").addEventListener("change", onBenchmark);
  for (const id of ["view", "category", "model"]) $(id).addEventListener("change", render);
  onBenchmark();
}
"""
