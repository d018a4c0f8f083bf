"""The report's tables from eval JSONs written by hand: long form, order, mean ± sd, overview, budget check."""

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
    assert list(long.columns) == ["method", "seed", "benchmark", "metric", "value"]
    first_run = long[(long["method"] == "tripletclip") & (long["seed"] == 0)]
    # suite order (sugarcrepe first), SugarCrepe in the paper's column order
    assert list(zip(first_run["benchmark"], first_run["metric"])) == [
        ("sugarcrepe", "replace_obj"), ("sugarcrepe", "add_att"), ("sugarcrepe", "avg"),
        ("winoground", "text"), ("winoground", "group")]
    summary = report.summarize(long).set_index(["method", "benchmark", "metric"])
    assert summary.loc[("clip", "winoground", "group")].tolist() == pytest.approx([5.0, 2 ** 0.5, 2])
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
