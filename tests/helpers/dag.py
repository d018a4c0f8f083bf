"""The tiny config that the DAG tests run, locally (tests/test_workflow.py) and through SLURM (tests/test_slurm.py)."""

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
METHODS = ["clip", "tripletclip"]
SEEDS = [0, 1]
# The paper's five rows as arms (config.yaml's, with the main set's negatives of the captions' rewrites)
PAPER_ARMS = {"laclip": {"loss": "clip", "captions": "rewrites"},
              "laclip_hn": {"loss": "clip", "captions": "rewrites", "extra_pairs": True},
              "negclip_rules": {"loss": "negclip", "negatives": "rules"},
              "negclip_pp": {"loss": "negclip"},
              "tripletclip_laclip": {"loss": "tripletclip", "captions": "rewrites"}}


# The benchmarks of the DAG tests that check plumbing (resuming, SLURM, evaluation-only runs): a caption among K and a
# 2x2 group, both with blind rows. Only the session's `dag_run` (tests/conftest.py) evaluates every benchmark: each
# evaluation job costs seconds of imports alone, and 13 benchmarks x 4 runs x 4 DAGs would cost minutes of `make test`.
PLUMBING = ["sugarcrepe", "winoground"]


def tiny_config(benchmarks: list[str] | None = PLUMBING) -> dict:
    """config.yaml shrunk to seconds per job; `benchmarks=None` keeps config.yaml's every benchmark."""
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    if benchmarks is not None:
        config["eval"]["benchmarks"] = list(benchmarks)
    config["world"].update(num_samples=96, val_samples=32)
    config["download"].update(samples_per_shard=48, threads=4)
    # eps 1e-6: Adam would turn the float noise of exactly-zero gradients into steps of lr, and that noise differs
    # between 1 and 2 processes (tests/test_train.py); the 2-process run through SLURM is compared with this one.
    # train.methods alone, on the captions (config.yaml's default is the paper's arms: tests/test_arms.py)
    config["negate"].update(input="captions", sets={})
    config["train"].update(methods=METHODS, arms={}, seeds=SEEDS, steps=4, batch_size=16, warmup_steps=1, log_every=1,
                           eval_every=2, checkpoint_every=2, shuffle_buffer=50, eps=1e-6)
    config["eval"]["sugarcrepe"]["samples_per_category"] = 8
    config["eval"]["retrieval"].update(shapes_images=20)
    config["eval"]["zeroshot"].update(shapes_images_per_class=1)
    config["eval"]["linear_probe"].update(shapes_images_per_class=1, shapes_train_images_per_class=1)
    config["eval"]["aro"].update(shapes_per_group=2)
    config["eval"]["winoground"].update(shapes_examples=10)
    config["eval"]["similarity"].update(samples=16)
    for benchmark in ("sugarcrepe_pp", "valse", "vl_checklist"):
        config["eval"][benchmark]["shapes_samples_per_category"] = 8
    config["eval"]["cola"]["shapes_examples"] = 10
    config["eval"]["bivlc"]["shapes_examples"] = 14
    config["eval"]["whatsup"]["shapes_examples"] = 4  # object pairs: 16 images
    config["eval"]["colorswap"]["shapes_examples"] = 10
    config["eval"]["eqben"]["shapes_examples"] = 5
    config["eval"]["spec"]["shapes_examples"] = 4
    return config


def report_rows(workdir: Path, name: str, benchmarks: list[str]) -> list[str]:
    """The lines of results/report/`name` (results.csv, summary.csv) about `benchmarks`, header first: what a run
    with fewer benchmarks must equal of a run with more (each benchmark is evaluated and bootstrapped on its own)."""
    header, *lines = (workdir / "results/report" / name).read_text(encoding="utf-8").splitlines()
    column = header.split(",").index("benchmark")
    return [header, *(line for line in lines if line.split(",")[column] in benchmarks)]


def snakemake(workdir: Path, *args: str, cores: str | None = "2") -> subprocess.CompletedProcess:
    """Snakemake on the repository's Snakefile in `workdir`; `cores=None` runs it as users type it, without --cores
    (the workflow profile profiles/default gives them)."""
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *(("--cores", cores) if cores else ()), *args],
                          capture_output=True, timeout=900, encoding="utf-8")
