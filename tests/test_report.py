"""The report's tables from eval JSONs written by hand: long form, order, mean ± sd, overview, budget check, the
models of `models:` beside the trained ones and the difference to the init model."""

import pandas as pd
import pytest

from tripletclip import io, report


def write_evals(tmp_path):
    paths = []
    for method in ("tripletclip", "clip"):  # config order, not alphabetical
        for seed in (0, 1):
            for benchmark, metrics in (("winoground", {"text": 10.0 + seed, "group": 4.0 + 2 * seed}),
                                       ("sugarcrepe", {"avg": 70.0 + seed, "add_att": 80.0, "replace_obj": 60.0})):
                path = tmp_path / f"{benchmark}-{method}-{seed}.json"
                io.write_json(path, {"benchmark": benchmark, "method": method, "seed": seed, "metrics": metrics,
                                     "details": {}})
                paths.append(str(path))
    return paths


def test_long_form_summary_and_markdown(tmp_path):
    long = report._order(report.collect(write_evals(tmp_path)))
    assert list(long.columns) == ["method", "seed", "trained", "benchmark", "metric", "value"]
    assert long["trained"].all()  # a JSON without "trained" is a trained run
    first_run = long[(long["method"] == "tripletclip") & (long["seed"] == 0)]
    # suite order (sugarcrepe first), SugarCrepe in the paper's column order
    assert list(zip(first_run["benchmark"], first_run["metric"])) == [
        ("sugarcrepe", "replace_obj"), ("sugarcrepe", "add_att"), ("sugarcrepe", "avg"),
        ("winoground", "text"), ("winoground", "group")]
    summary = report.summarize(long).set_index(["method", "benchmark", "metric"])
    assert summary.loc[("clip", "winoground", "group"), ["mean", "std", "n"]].tolist() == pytest.approx(
        [5.0, 2 ** 0.5, 2])
    assert list(report.wide(summary.reset_index()).index) == ["tripletclip", "clip"]
    text = report.markdown(summary.reset_index(), "Budget.")
    overview = text.split("### Overview")[1].split("###")[0]
    assert "sugarcrepe/avg" in overview and "winoground/group" in overview and "winoground/text" not in overview
    assert "70.50 ± 0.71" in overview and "| Replace obj" in text


def test_methods_are_compared_to_clip_seed_by_seed(tmp_path):
    runs = {("clip", 0): 60.0, ("clip", 1): 70.0, ("clip", 2): 65.0,
            ("tripletclip", 0): 62.0, ("tripletclip", 1): 71.0, ("tripletclip", 2): 68.0,
            ("negclip", 0): 59.0, ("negclip", 1): 70.0, ("negclip", 3): 90.0}  # seed 3: no CLIP run to pair with
    paths = []
    for (method, seed), avg in runs.items():
        paths.append(tmp_path / f"{method}{seed}.json")
        io.write_json(paths[-1], {"benchmark": "sugarcrepe", "method": method, "seed": seed,
                                  "metrics": {"avg": avg}, "details": {}})
    long = report._order(report.collect(paths))
    diff = report.paired(long).set_index("method")
    assert diff.loc["tripletclip", ["mean", "std", "n"]].tolist() == pytest.approx([2.0, 1.0, 3])
    assert diff.loc["negclip", ["mean", "std", "n"]].tolist() == pytest.approx([-0.5, 0.5 * 2 ** 0.5, 2])
    assert "clip" not in diff.index
    text = report.markdown(report.summarize(long), "Budget.", report.paired(long))
    assert "| tripletclip | +2.00 ± 1.00" in text.split("### Difference to clip, paired by seed")[1]
    # the unpaired spread of the same runs hides the same gap: 67.00 ± 4.58 against 65.00 ± 5.00
    assert "67.00 ± 4.58" in text.split("### Overview")[1] and "65.00 ± 5.00" in text


def test_budget_refuses_runs_at_unequal_compute(tmp_path):
    for i, pairs in enumerate((64, 64, 32)):
        io.write_json(tmp_path / f"m{i}.json", {"pairs_seen": pairs, "steps": pairs // 16, "batch_size": 16,
                                                "model": "tiny", "seed": i})
    with pytest.raises(ValueError, match=r"not trained at equal compute: pairs seen \[32, 64\]"):
        report.budget([str(tmp_path / f"m{i}.json") for i in range(3)])
    assert "every model saw 64 anchor pairs (4 steps x global batch 16), tiny, seeds 0, 1" in \
        report.budget([str(tmp_path / f"m{i}.json") for i in range(2)])


def write_named(tmp_path, name, metrics, benchmark="sugarcrepe", details=None):
    """A model of `models:` evaluated as given: no seed, "trained": false, its spec."""
    path = tmp_path / f"{benchmark}-{name}.json"
    io.write_json(path, {"benchmark": benchmark, "method": name, "seed": None, "trained": False,
                         "model": {"model": "ViT-B-32", "pretrained": name, "quick_gelu": False},
                         "metrics": metrics, "details": details or {}})
    return str(path)


def rows(section):
    """The first Markdown table in `section` as {row label: [cells]}, padding stripped."""
    lines = [line for line in section.split("###")[0].splitlines() if line.startswith("|")]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}


def mixed_evals(tmp_path):
    """Named models first and interleaved with the runs (as a benchmark-major expand may list them), one trained
    run marked "trained": true, the others without the key."""
    paths = [write_named(tmp_path, "openai-b32", {"avg": 73.0, "add_att": 70.0, "replace_obj": 80.0})]
    for method, seed, avg in (("tripletclip", 0, 75.0), ("tripletclip", 1, 77.0), ("clip", 0, 71.0),
                              ("clip", 1, 72.0)):
        path = tmp_path / f"sugarcrepe-{method}-{seed}.json"
        io.write_json(path, {"benchmark": "sugarcrepe", "method": method, "seed": seed,
                             **({"trained": True} if seed else {}),
                             "metrics": {"avg": avg, "add_att": avg + 1, "replace_obj": avg - 1}, "details": {}})
        paths.append(str(path))
    paths.append(write_named(tmp_path, "laion-b32", {"avg": 74.5, "add_att": 71.0, "replace_obj": 81.0}))
    return paths


def test_named_models_are_rows_without_seed_after_the_trained_methods(tmp_path):
    long = report._order(report.collect(mixed_evals(tmp_path)))
    assert list(dict.fromkeys(long["method"])) == ["tripletclip", "clip", "openai-b32", "laion-b32"]
    named = long[~long["trained"]]
    assert set(named["method"]) == {"openai-b32", "laion-b32"} and named["seed"].isna().all()
    assert long.loc[long["trained"], "seed"].tolist() == [0] * 3 + [1] * 3 + [0] * 3 + [1] * 3
    out = tmp_path / "results.csv"
    long.to_csv(out, index=False, float_format="%.4f")
    text = out.read_text(encoding="utf-8").splitlines()
    assert text[0] == "method,seed,trained,benchmark,metric,value"
    assert "tripletclip,0,True,sugarcrepe,replace_obj,74.0000" in text  # seeds stay integers beside empty ones
    assert "openai-b32,,False,sugarcrepe,avg,73.0000" in text
    back = pd.read_csv(out)
    assert back.loc[back["method"] == "laion-b32", "trained"].tolist() == [False] * 3

    summary = report.summarize(long)
    assert list(dict.fromkeys(summary["method"])) == ["tripletclip", "clip", "openai-b32", "laion-b32"]
    row = summary.set_index(["method", "metric"]).loc[("openai-b32", "avg")]
    assert (bool(row["trained"]), row["mean"], row["std"], row["n"]) == (False, 73.0, 0.0, 1)
    assert list(report.wide(summary).index) == ["tripletclip", "clip", "openai-b32", "laion-b32"]
    assert report.wide(summary).loc["laion-b32", "sugarcrepe/avg"] == 74.5

    text = report.markdown(summary, "Budget.", report.paired(long))
    overview = text.split("### Overview")[1].split("###")[0]
    assert rows(overview) == {"tripletclip": ["76.00 ± 1.41"], "clip": ["71.50 ± 0.71"], "openai-b32 *": ["73.00"],
                              "laion-b32 *": ["74.50"]}
    assert list(rows(overview)) == ["tripletclip", "clip", "openai-b32 *", "laion-b32 *"]
    footnote = report.FOOTNOTE
    assert overview.strip().endswith(footnote)
    sugarcrepe = text.split("### SugarCrepe accuracy (%)")[1]
    assert rows(sugarcrepe)["laion-b32 *"] == ["81.00", "71.00", "74.50"]  # Replace obj, Add att, Avg
    assert sugarcrepe.strip().endswith(footnote)
    assert "73.00 ± 0.00" not in text and "81.00 ± 0.00" not in text
    assert text.count(footnote) == 2  # overview and SugarCrepe; not under the paired differences
    assert "### Difference to the init model" not in text  # no init given


def test_paired_by_clip_ignores_named_models(tmp_path):
    paths = mixed_evals(tmp_path) + [write_named(tmp_path, "clip-ish", {"avg": 0.0})]
    long = report._order(report.collect(paths))
    diff = report.paired(long).set_index("method")
    assert list(diff.index.unique()) == ["tripletclip"]
    assert diff.loc[diff["metric"] == "avg", ["mean", "std", "n"]].iloc[0].tolist() == pytest.approx(
        [4.5, 0.5 * 2 ** 0.5, 2])
    text = report.markdown(report.summarize(long), "Budget.", report.paired(long))
    paired = text.split("### Difference to clip, paired by seed")[1].split("###")[0]
    assert rows(paired) == {"tripletclip": ["+4.50 ± 0.71"]} and "not trained" not in paired


def test_a_model_named_like_a_method_is_refused(tmp_path):
    paths = mixed_evals(tmp_path) + [write_named(tmp_path, "clip", {"avg": 50.0})]
    with pytest.raises(ValueError, match=r"\['clip'\] name both a trained method and a model of `models:`"):
        report.collect(paths)


def test_difference_to_the_init_model(tmp_path):
    paths = [write_named(tmp_path, "openai-b32", {"image_top1": 63.0, "image_top5": 88.0}, "zeroshot"),
             write_named(tmp_path, "openai-b32", {"avg": 73.0, "add_att": 70.0}, "sugarcrepe")]
    values = {("negclip", 0): (61.5, 80.0), ("negclip", 1): (62.5, 83.0),
              ("tripletclip", 0): (63.0, 84.0), ("tripletclip", 1): (64.0, 86.0)}
    for (method, seed), (top1, avg) in values.items():
        for benchmark, metrics in (("zeroshot", {"image_top1": top1, "image_top5": 90.0}),
                                   ("sugarcrepe", {"avg": avg, "add_att": 75.0})):
            paths.append(tmp_path / f"{benchmark}-{method}-{seed}.json")
            io.write_json(paths[-1], {"benchmark": benchmark, "method": method, "seed": seed, "trained": True,
                                      "metrics": metrics, "details": {}})
    long = report._order(report.collect(paths))
    diff = report.difference_to_init(long, "openai-b32").set_index(["method", "metric"])
    assert diff.loc[("negclip", "image_top1"), ["mean", "std", "n"]].tolist() == pytest.approx(
        [-1.0, 0.5 ** 0.5, 2])
    assert diff.loc[("negclip", "avg"), ["mean", "std", "n"]].tolist() == pytest.approx([8.5, 4.5 ** 0.5, 2])
    assert diff.loc[("tripletclip", "avg"), ["mean", "std"]].tolist() == pytest.approx([12.0, 2 ** 0.5])
    assert "openai-b32" not in diff.index.get_level_values("method")

    summary = report.summarize(long)
    text = report.markdown(summary, "Budget.", init="openai-b32",
                           init_differences=report.difference_to_init(long, "openai-b32"))
    # after the overview, before the benchmarks
    assert text.index("### Overview") < text.index("### Difference to the init model (openai-b32)") < \
        text.index("### SugarCrepe")
    section = text.split("### Difference to the init model (openai-b32)")[1].split("###")[0]
    assert "zero-shot" in section and "retrieval" in section and "side by side" in section
    assert "sugarcrepe/avg" in section and "zeroshot/image_top1" in section  # the overview's headline metrics
    assert "image_top5" not in section and "add_att" not in section
    # (80 − 73, 83 − 73) and (61.5 − 63, 62.5 − 63): mean and sd over the two seeds
    assert rows(section) == {"negclip": ["+8.50 ± 2.12", "-1.00 ± 0.71"],
                             "tripletclip": ["+12.00 ± 1.41", "+0.50 ± 0.71"]}
    assert "not trained here" not in section

    outputs = {key: str(tmp_path / "out" / name) for key, name in OUTPUTS.items()}
    report.write_report([str(p) for p in paths], [], {}, outputs, init="openai-b32")
    written = (tmp_path / "out/results.md").read_text(encoding="utf-8")
    assert "### Difference to the init model (openai-b32)" in written and "+12.00 ± 1.41" in written
    report.write_report([str(p) for p in paths], [], {}, outputs, init="not-evaluated")
    assert "### Difference to the init model" not in (tmp_path / "out/results.md").read_text(encoding="utf-8")


OUTPUTS = {"csv": "results.csv", "summary": "summary.csv", "wide": "results_wide.csv", "markdown": "results.md",
           "sugarcrepe_plot": "sugarcrepe.png", "similarity_plot": "similarity.png", "training_plot": "training.png"}


def test_budget_of_an_evaluation_only_run_and_of_named_models_beside_trained_ones(tmp_path):
    assert report.budget([], ["openai-b32", "laion-b32"]) == (
        "Evaluation only: no model was trained in this run; 2 models (openai-b32, laion-b32) evaluated as given "
        "in `models:`.")
    assert report.budget([], ["my-run"]).endswith("; 1 model (my-run) evaluated as given in `models:`.")
    assert report.budget([]) == "Evaluation only: no model was trained in this run."
    for i in range(2):
        io.write_json(tmp_path / f"m{i}.json", {"pairs_seen": 64, "steps": 4, "batch_size": 16, "model": "tiny",
                                                "seed": i})
    statement = report.budget([str(tmp_path / f"m{i}.json") for i in range(2)], ["openai-b32"])
    assert "every model trained here saw 64 anchor pairs (4 steps x global batch 16), tiny, seeds 0, 1." in statement
    assert statement.endswith(" The 1 model (openai-b32) of `models:` was evaluated as given, outside this budget.")
    with pytest.raises(ValueError, match="not trained at equal compute"):
        io.write_json(tmp_path / "m2.json", {"pairs_seen": 32, "steps": 2, "batch_size": 16, "model": "tiny",
                                             "seed": 2})
        report.budget([str(tmp_path / f"m{i}.json") for i in range(3)], ["openai-b32"])


def test_an_evaluation_only_report_writes_every_output(tmp_path):
    paths = [write_named(tmp_path, "openai-b32", {"avg": 73.0, "add_att": 70.0, "replace_obj": 80.0}),
             write_named(tmp_path, "laion-b32", {"avg": 74.5, "add_att": 71.0, "replace_obj": 81.0}),
             write_named(tmp_path, "openai-b32", {"group": 8.0, "text": 30.0}, "winoground"),
             write_named(tmp_path, "laion-b32", {"group": 9.0, "text": 31.0}, "winoground"),
             write_named(tmp_path, "openai-b32", {"image_mean": 0.8, "text_mean": 0.9}, "similarity",
                         {"image": [0.7, 0.8, 0.9], "text": [0.85, 0.9, 0.95]}),
             write_named(tmp_path, "laion-b32", {"image_mean": 0.75, "text_mean": 0.85}, "similarity",
                         {"image": [0.6, 0.75, 0.9], "text": [0.8, 0.85, 0.9]})]
    outputs = {key: str(tmp_path / "out" / name) for key, name in OUTPUTS.items()}
    summary = report.write_report(paths, [], {}, outputs, init=None)
    for name in OUTPUTS.values():
        assert (tmp_path / "out" / name).stat().st_size > 0
    for name in ("sugarcrepe.png", "similarity.png", "training.png"):
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"
    assert list(dict.fromkeys(summary["method"])) == ["openai-b32", "laion-b32"]
    long = pd.read_csv(tmp_path / "out/results.csv")
    assert long["seed"].isna().all() and not long["trained"].any() and len(long) == 2 * (3 + 2 + 2)
    assert pd.read_csv(tmp_path / "out/summary.csv")["n"].eq(1).all()
    text = (tmp_path / "out/results.md").read_text(encoding="utf-8")
    assert text.startswith("Evaluation only: no model was trained in this run; 2 models (openai-b32, laion-b32) "
                           "evaluated as given in `models:`.")
    assert "Mean ± standard deviation over seeds." not in text and " ± " not in text.split("### Overview")[1]
    assert rows(text.split("### Overview")[1]) == {"openai-b32 *": ["73.00", "8.00", "0.800", "0.900"],
                                                    "laion-b32 *": ["74.50", "9.00", "0.750", "0.850"]}
    assert "paired by seed" not in text
    # the overview and each of the three benchmarks' tables
    assert text.count(report.FOOTNOTE) == 4


def test_plots_show_named_models_and_only_trained_runs_train(tmp_path, monkeypatch):
    summary = report.summarize(report._order(report.collect(mixed_evals(tmp_path))))
    fig = report.plot_sugarcrepe(summary, "Budget.")
    # a row per model, the first on top; the models of `models:` marked, hollow
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["laion-b32 *", "openai-b32 *", "clip",
                                                                      "tripletclip"]
    paths = [write_named(tmp_path, "openai-b32", {}, "similarity", {"image": [0.7, 0.9], "text": [0.8, 0.9]})]
    for seed in (0, 1):
        paths.append(tmp_path / f"similarity-clip-{seed}.json")
        io.write_json(paths[-1], {"benchmark": "similarity", "method": "clip", "seed": seed, "metrics": {},
                                  "details": {"image": [0.5, 0.6], "text": [0.6, 0.7]}})
    fig = report.plot_similarity(paths)
    assert fig.axes[0].get_legend_handles_labels()[1] == ["clip (mean 0.55)", "openai-b32 * (mean 0.80)"]
    fig = report.plot_training({})
    assert [t.get_text() for t in fig.axes[0].texts] == ["No model was trained in this run (train.methods is empty)"]


def test_a_degenerate_interval_is_marked_and_explained_not_ticked(tmp_path):
    # one item per SugarCrepe category, the init model (baseline) wrong on all, the other right on one category
    # only: avg is +14.29 [+14.29, +14.29], a point, which the report must not tick (issue 28, item 6)
    from tripletclip.evals.sugarcrepe import CATEGORIES

    paths, samples = [], []
    for name, won in (("openai-b32", set()), ("laion-b32", {CATEGORIES[0]})):
        paths.append(write_named(tmp_path, name, {"avg": 100 * len(won) / len(CATEGORIES)}))
        samples.append(tmp_path / f"sugarcrepe-{name}.parquet")
        pd.DataFrame({"category": list(CATEGORIES), "sample_id": [f"{c}-0" for c in CATEGORIES],
                      "correct": [c in won for c in CATEGORIES]}).to_parquet(samples[-1])
    outputs = {key: str(tmp_path / "out" / name) for key, name in OUTPUTS.items()}
    outputs["significance"] = str(tmp_path / "out/significance.csv")
    report.write_report(paths, [], {}, outputs, sample_paths=[str(s) for s in samples], baseline="openai-b32",
                        resamples=500)
    table = pd.read_csv(tmp_path / "out/significance.csv", keep_default_na=False).set_index("category")
    assert table.columns[-2:].tolist() == ["holds", "note"]
    assert not table.loc["avg", "holds"] and table.loc["avg", "note"].startswith(
        "interval degenerate: a category has fewer than 2 items (1)")
    assert table.loc["all", "note"] == ""  # seven items: a real interval (McNemar p = 1 withholds its ✓)
    text = (tmp_path / "out/results.md").read_text(encoding="utf-8")
    section = text.split("### Is the difference real?")[1].split("\n### ")[0]
    overall, per_category = [rows(p) for p in section.split("\n\n") if p.startswith("|")]
    assert overall == {"laion-b32": ["+14.29 [+14.29, +14.29] †"]}
    assert per_category["laion-b32"][3] == "+100.00 [+100.00, +100.00] †"  # Replace obj, one item won: no ✓ either
    assert "] ✓" not in section  # no cell ticked
    assert "† Interval degenerate, no ✓ whatever its bounds: a category has fewer than 2 items (1)" in section
    assert "; the sample has fewer than 2 items (1)" in section  # the categories' own cells, one item each
    assert "column `note`" in section and "at least 2" in section


def test_significance_markdown_without_notes_is_unchanged():
    # a table from compare() without notes (or written before them) has no † and no line under the tables
    table = pd.DataFrame({"model": ["negclip"], "baseline": ["clip"], "benchmark": ["winoground"],
                          "category": ["all"], "difference": [5.0], "low": [1.0], "high": [9.0], "holds": [True]})
    text = report.significance_markdown(table, "clip", 0.95)
    assert "+5.00 [+1.00, +9.00] ✓" in text and "†" not in text


@pytest.mark.parametrize("models", [1, 6, 30])
def test_the_sugarcrepe_figure_stays_readable_for_any_number_of_rows(tmp_path, models):
    """The dot plot grows with its rows, keeps its legend off the data, prints no value labels, and shows each
    accuracy's interval over the items (Wilson's, from statsmodels) and the text-only scorers as lines."""
    from tripletclip.evals.sugarcrepe import CATEGORIES

    rows = [{"method": f"model-{i}", "trained": i % 2 == 0, "benchmark": "sugarcrepe", "metric": metric,
             "mean": 60 + (i * 7 + k * 3) % 40, "std": 2.0, "n": 3 if i % 2 == 0 else 1}
            for i in range(models) for k, metric in enumerate([*CATEGORIES, "avg"])]
    rows += [{"method": "blind-shorter", "trained": False, "benchmark": "sugarcrepe", "metric": metric, "mean": 50.0,
              "std": 0.0, "n": 1} for metric in [*CATEGORIES, "avg"]]
    counts = dict.fromkeys(CATEGORIES, 200)
    fig = report.plot_sugarcrepe(pd.DataFrame(rows), "Budget. " * 40, counts)
    fig.savefig(tmp_path / "sugarcrepe.png", dpi=120, bbox_inches="tight")
    assert (tmp_path / "sugarcrepe.png").stat().st_size > 0
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title() for ax in panels] == [report.LABELS[c] for c in [*CATEGORIES, "avg"]]
    assert len(panels[0].get_yticklabels()) == models and not any(ax.texts for ax in panels)
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    assert not any(legend.overlaps(ax.get_window_extent(renderer)) for ax in panels)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["chance (50 %)", "blind-shorter * (text only)"]
    assert fig.get_figheight() >= 0.3 * models  # a row keeps its height however many there are
    # model-0's Replace obj: 60 % of 200 items, Wilson's 95 % interval drawn as its line
    line = panels[0].lines[0]
    assert line.get_xdata() == pytest.approx([53.08, 66.54], abs=0.01) and list(line.get_ydata()) == [models - 1] * 2
    # with the long table, each seed of a trained row is a tick beside its mean: the spread over seeds shows too
    seeds = pd.DataFrame([{"method": r["method"], "seed": k, "metric": r["metric"], "value": r["mean"] + k - 1}
                          for r in rows if r["n"] > 1 for k in range(3)])
    fig = report.plot_sugarcrepe(pd.DataFrame(rows), "Budget.", counts, seeds=seeds)
    ticks = [ln for ln in fig.axes[0].lines if ln.get_marker() == "|"]
    assert len(ticks) == (models + 1) // 2 and list(ticks[0].get_xdata()) == [59.0, 60.0, 61.0]
    assert "one seed" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_the_training_and_similarity_legends_stay_off_the_data(tmp_path):
    """Seven arms' labels inside the panels covered their curves (make claim): the legends sit below them."""
    logs, evals = {}, []
    for i in range(9):
        for seed in (0, 1):
            path = tmp_path / f"log-{i}-{seed}.csv"
            pd.DataFrame({"pairs_seen": [32, 64, 96], "loss": [4.0, 3.0 - i / 10, 2.0], "i2t_r1": [1.0, None, 30.0 + i]}
                         ).to_csv(path, index=False)
            logs[f"arm{i}", seed] = str(path)
        evals.append(tmp_path / f"similarity-{i}.json")
        io.write_json(evals[-1], {"benchmark": "similarity", "method": f"arm{i}", "seed": 0, "metrics": {},
                                  "details": {"image": [0.5, 0.9], "text": [0.6, 0.95]}})
    fig = report.plot_training(logs)
    fig.savefig(tmp_path / "training.png", bbox_inches="tight")
    renderer = fig.canvas.get_renderer()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [f"arm{i}" for i in range(9)]  # one per arm
    assert not any(fig.legends[0].get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
                   for ax in fig.axes)
    fig = report.plot_similarity(evals)
    fig.savefig(tmp_path / "similarity.png", bbox_inches="tight")
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        assert len(ax.get_legend().get_texts()) == 9
        assert not ax.get_legend().get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
