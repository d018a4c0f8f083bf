"""The whole Snakemake DAG on a tiny config, and what a user does with its outputs."""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import open_clip
import pandas as pd
import pytest
import torch
import yaml

from helpers.dag import METHODS, PLUMBING, SEEDS, SNAKEMAKE, report_rows, snakemake, tiny_config
from helpers.reference import sugarcrepe_per_sample
from tripletclip import evals, inspect, io, models
from tripletclip.evals import BLIND_BENCHMARKS, SHAPES_BENCHMARKS, sugarcrepe

pytestmark = pytest.mark.slow
# the default suite (tiny_config(benchmarks=None)): every benchmark with a shapes analogue
BENCHMARKS = SHAPES_BENCHMARKS


@pytest.fixture
def run(dag_run):
    return dag_run


def test_dag_writes_the_report(run):
    long = pd.read_csv(run / "results/report/results.csv")
    assert list(long.columns) == ["method", "seed", "trained", "benchmark", "metric", "value"]
    # the text-only scorers are rows of their own where a benchmark picks between captions
    blind = long[~long["trained"]]
    assert set(blind["method"]) == {f"blind-{s}" for s in ("shorter", "frequent", "ngram", "novel")}
    assert set(blind["benchmark"]) == set(BLIND_BENCHMARKS) & set(BENCHMARKS) and blind["seed"].isna().all()
    long = long[long["trained"]]
    assert set(long["benchmark"]) == set(BENCHMARKS)
    runs = long.groupby(["method", "seed"], sort=False)
    assert list(runs.groups) == [(m, s) for m in METHODS for s in SEEDS]
    assert runs.size().nunique() == 1  # every run has every metric
    table = long[long["benchmark"] == "sugarcrepe"].pivot(index=["method", "seed"], columns="metric", values="value")
    assert ((table >= 0) & (table <= 100)).all().all()
    assert table["avg"].tolist() == pytest.approx(table[list(sugarcrepe.CATEGORIES)].mean(axis=1).tolist(), abs=1e-3)
    metrics = set(long["metric"])
    for metric in ("shapes_i2t_r1", "shapes_t2i_r10", "shapes_top1", "shapes_top5", "shapes_relation",
                   "shapes_attribution", "shapes_order", "text", "image", "group", "image_mean", "text_mean"):
        assert metric in metrics
    summary = pd.read_csv(run / "results/report/summary.csv")
    for m in METHODS:
        row = summary[(summary["method"] == m) & (summary["metric"] == "avg")].iloc[0]
        assert row["mean"] == pytest.approx(table.loc[m, "avg"].mean(), abs=1e-3)
        assert row["std"] == pytest.approx(table.loc[m, "avg"].std(), abs=1e-3) and row["n"] == len(SEEDS)
    wide = pd.read_csv(run / "results/report/results_wide.csv", index_col="method")
    assert list(wide.index)[:len(METHODS)] == METHODS
    assert list(wide.columns[:8]) == [f"sugarcrepe/{c}" for c in sugarcrepe.CATEGORIES] + ["sugarcrepe/avg"]
    markdown = (run / "results/report/results.md").read_text(encoding="utf-8")
    assert "Replace obj" in markdown and "tripletclip" in markdown and " ± " in markdown
    assert "every model saw 64 anchor pairs (4 steps x global batch 16)" in markdown
    # the compute, the overview, each method against CLIP seed by seed, item by item, then each benchmark
    assert markdown.count("### ") == 4 + len(BENCHMARKS) and "### Difference to clip, paired by seed" in markdown
    compute = markdown.split("### Compute")[1].split("###")[0]
    assert markdown.index("### Compute") < markdown.index("### Overview") and "| tripletclip " in compute
    assert "### Is the difference real? Each model against clip" in markdown and "(browse.html)" in markdown
    overview = markdown.split("### Overview")[1].split("###")[0]
    assert "sugarcrepe/avg" in overview and "winoground/group" in overview and "sugarcrepe/swap_obj" not in overview
    for plot in ("sugarcrepe", "similarity", "training"):
        assert (run / f"results/report/{plot}.png").read_bytes()[:4] == b"\x89PNG"
    for method in METHODS:
        for seed in SEEDS:
            metrics = io.read_json(run / f"results/train/{method}/seed{seed}/metrics.json")
            assert metrics["pairs_seen"] == 4 * 16 and metrics["seed"] == seed  # equal compute
            assert len(pd.read_csv(run / f"results/train/{method}/seed{seed}/log.csv")) == 4
            assert not (run / f"results/train/{method}/seed{seed}/resume.pt").exists()
    packed = [io.read_json(p) for p in sorted((run / "results/pack").glob("*_stats.json"))]
    assert len(packed) == 2 and sum(p["packed"] for p in packed) == 96
    for p in packed:
        assert p["in"] == p["packed"] + sum(p["dropped"].values())
    for stage in ("world_source", "download", "negate/00000", "train/clip/seed0", "report"):
        assert (run / f"logs/{stage}.log").exists()


def test_equal_compute_runs_see_the_same_data(run):
    clip = pd.read_csv(run / "results/train/clip/seed0/log.csv")
    triplet = pd.read_csv(run / "results/train/tripletclip/seed0/log.csv")
    assert clip["pairs_seen"].tolist() == triplet["pairs_seen"].tolist()
    # TripletCLIP's real term starts from the same weights and batch as CLIP, plus the hard negatives
    assert "real" in triplet.columns and "synthetic" in triplet.columns


def test_per_sample_tables_give_the_metrics_and_the_report_compares_them(run):
    """Each evaluation's per-sample table recomputes its metrics exactly; significance.csv holds every other method
    against clip on every benchmark with right/wrong items; browse.html shows the items the tables mark wrong."""
    for benchmark in BENCHMARKS:
        for method in METHODS:
            for seed in SEEDS:
                samples = pd.read_parquet(run / f"results/eval/{benchmark}/{method}/seed{seed}.parquet")
                metrics = io.read_json(run / f"results/eval/{benchmark}/{method}/seed{seed}.json")["metrics"]
                assert evals.module(benchmark).metrics_from_samples(samples) == metrics
    table = pd.read_csv(run / "results/report/significance.csv")
    methods = table[~table["model"].str.startswith("blind-")]
    assert set(methods["model"]) == set(METHODS) - {"clip"} and set(table["baseline"]) == {"clip"}
    assert set(methods["benchmark"]) == set(BENCHMARKS) - {"similarity"}  # similarity has no right answer
    assert (methods["n_seeds"] == len(SEEDS)).all() and (table["low"] <= table["difference"]).all()
    assert (table["difference"] <= table["high"]).all()
    # the page itself is tested in headless Chromium (tests/test_browse.py); here: it holds this run's models
    page = (run / "results/report/browse.html").read_text(encoding="utf-8")
    assert all(f"{method} seed {seed}" in page for method in METHODS for seed in SEEDS)


def test_rerun_has_nothing_to_do_and_a_deleted_shard_reruns_only_its_dependents(run):
    dry = snakemake(run, "-n", "all")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    backup = run / "pack-backup.tar"
    shutil.copy(run / "results/pack/00001.tar", backup)
    (run / "results/pack/00001.tar").unlink()
    try:
        dry = snakemake(run, "-n", "--quiet", "rules", "all")
        out = dry.stdout + dry.stderr
        jobs = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
                if len(line.split()) == 2 and line.split()[1].isdigit()}
        jobs.pop("total", None)
        expected = {"pack": 1, "training_set": 1, "train": 4, "export": 4, "significance": 1, "report": 1, "all": 1,
                    # blind: fitted on the captions
                    "eval_analogues_model": 4, "blind": len(set(BLIND_BENCHMARKS) & set(BENCHMARKS))}
        assert jobs == expected, out
    finally:
        shutil.copy(backup, run / "results/pack/00001.tar")


def test_a_models_analogues_rerun_alike_and_the_html_report_holds_every_plot(run):
    before = {b: (run / f"results/eval/{b}/clip/seed1.parquet").read_bytes() for b in BENCHMARKS}
    (run / "results/eval/winoground/clip/seed1.json").unlink()
    result = snakemake(run, "results/eval/winoground.csv", cores=None)  # as users type it
    assert result.returncode == 0, result.stderr[-4000:]
    ran = re.findall(r"^(?:local)?rule (\w+):", result.stdout + result.stderr, re.MULTILINE)
    assert sorted(ran) == ["eval_analogues_model", "eval_table"]  # that model's one job over every analogue
    assert (run / "results/eval/winoground/clip/seed1.json").exists()
    assert {b: (run / f"results/eval/{b}/clip/seed1.parquet").read_bytes() for b in BENCHMARKS} == before
    table = pd.read_csv(run / "results/eval/winoground.csv")  # every model's metrics, as results.csv holds them
    assert set(table["benchmark"]) == {"winoground"} and {"clip", "blind-shorter"} <= set(table["method"])
    report_rows = pd.read_csv(run / "results/report/results.csv").query("benchmark == 'winoground'")
    assert len(table) == len(report_rows)
    result = snakemake(run, "--forcerun", "report", "-n", "all")  # redrawing the report reruns no bootstrap
    assert set(re.findall(r"^(?:local)?rule (\w+):", result.stdout, re.MULTILINE)) == {"report", "all"}
    result = snakemake(run, "all")  # the report follows its rerun input
    assert result.returncode == 0, result.stderr[-4000:]
    result = snakemake(run, "--report", str(run / "report.html"))
    assert result.returncode == 0, result.stderr[-4000:]
    html = (run / "report.html").read_text(encoding="utf-8")
    for item in ("sugarcrepe.png", "similarity.png", "training.png", "results_wide.csv"):
        assert item in html
    assert "lower is better" in html  # a caption


def test_export_loads_through_local_dir_unchanged(run):
    model_dir = run / "results/models/clip/seed0"
    config = json.loads((model_dir / "open_clip_config.json").read_text(encoding="utf-8"))
    assert config.keys() == {"model_cfg", "preprocess_cfg"}
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{model_dir}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{model_dir}")
    trained, *_ = models.create("ViT-Tiny-P16-64")
    trained.load_state_dict(models.load_checkpoint(run / "results/train/clip/seed0/checkpoint.pt")["model"])
    text = tokenizer(["a small red circle left of a large blue square"])
    image = torch.rand(1, 3, 64, 64)
    model.eval(), trained.eval()
    assert torch.equal(model.encode_text(text), trained.encode_text(text))
    assert torch.equal(model.encode_image(image), trained.encode_image(image))


def test_batched_evaluator_matches_the_per_sample_protocol(run):
    """SugarCrepe's main_eval.py: one image at a time, positive and negative caption encoded per sample."""
    reference = sugarcrepe_per_sample(run / "results/models/tripletclip/seed0", run / "results/benchmarks/sugarcrepe")
    ours = io.read_json(run / "results/eval/sugarcrepe/tripletclip/seed0.json")["metrics"]
    for category, value in reference.items():
        assert ours[category] == pytest.approx(value)


def test_inspect_prints_a_packed_shard_and_draws_a_contact_sheet(run, capsys):
    sheet = run / "sheet.png"
    assert inspect.main([str(run / "results/pack/00000.tar"), "-n", "3", "--sheet", str(sheet)]) == 0
    out = capsys.readouterr().out
    assert out.count("key ") == 3 and out.count("negative ") == 3 and "type " in out
    assert sheet.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("edit, key", [
    (lambda c: c.update(stepz=3), "stepz"),
    (lambda c: c["train"].update(learning_rate=1e-3), "learning_rate"),
    (lambda c: c["negate"].update(types=["swap_colour"]), "swap_colour"),
    (lambda c: c["train"].update(steps="many"), "many"),
    (lambda c: c["resources"].update(trian={"runtime": 2880}), "trian"),  # a misspelt rule under resources
    (lambda c: c["download"].update(headers=False), "headers"),
])
def test_config_errors_name_the_key_before_any_job_runs(tmp_path, edit, key):
    config = tiny_config()
    edit(config)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = snakemake(tmp_path, "all")
    assert result.returncode != 0
    assert key in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_a_killed_run_leaves_no_partial_output_and_resumes_to_the_same_report(run, tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config()), encoding="utf-8")
    proc = subprocess.Popen([*SNAKEMAKE, "--directory", str(tmp_path), "--cores", "2", "all"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not (tmp_path / "results/pack/00000.tar").exists() and time.time() < deadline:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the harshest stop: no handler in any job gets to clean up
    proc.wait()
    for tar in (tmp_path / "results").rglob("*.tar"):
        assert io.has_end_marker(tar), f"{tar} is a partial shard under a final name"
    for stats in (tmp_path / "results").rglob("*.json"):
        json.loads(stats.read_text(encoding="utf-8"))
    # what a user does after a hard kill: release Snakemake's lock, run again
    assert snakemake(tmp_path, "--unlock").returncode == 0
    result = snakemake(tmp_path, "--rerun-incomplete", "all")
    assert result.returncode == 0, result.stderr[-4000:]
    for name in ("results.csv", "summary.csv"):  # `run` has every benchmark, this run the plumbing's
        assert report_rows(tmp_path, name, PLUMBING) == report_rows(run, name, PLUMBING)
