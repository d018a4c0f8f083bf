"""`--profile slurm` (profiles/slurm) on a real single-node SLURM cluster (scripts/slurm-local.sh): the tiny DAG with
every job through sbatch, bundled as the profile says, reporting what the local run reports; training on 2 processes
through srun, equal to 1 process on the same global batch; and a training job cancelled by the scheduler,
resubmitted, resuming to the weights of an uninterrupted run."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from helpers.dag import PLUMBING, REPO, SNAKEMAKE, report_rows, tiny_config
from tripletclip import io, models
from tripletclip.evals import BENCHMARKS

pytestmark = pytest.mark.slow
CLUSTER = REPO / "scripts/slurm-local.sh"
OURS = "# written by tripletclip-pipeline's scripts/slurm-local.sh"
# This cluster has no accounting (job states come from squeue), 2 cores and ~20 GB: the profile's per-job limits
# shrink to fit (two tiny training runs at once), and the 2 shards of each stage make one bundle as 50 do on a real
# cluster; every benchmark's analogue in one bundle too.
TEST_CLUSTER = ["--resources", "mem_mb=16000", "gpu=1", "--set-resources", "train:mem_mb=4000",
                "--group-components", "negate=2", "synthesize=2", "score=2", f"benchmarks={len(BENCHMARKS)}",
                # single-valued options last: the lists above would swallow the targets that follow
                "--cores", "2", "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1"]


def why_no_cluster() -> str | None:
    if os.geteuid() != 0:
        return "a SLURM cluster needs root (slurmd starts jobs as their user); CI runs as root"
    missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch") if not shutil.which(tool)]
    if missing:
        return f"{', '.join(missing)} not installed: `scripts/slurm-local.sh install` (.ci/run does)"
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and OURS not in conf.read_text(encoding="utf-8"):
        return "this host runs a SLURM of its own (/etc/slurm/slurm.conf): not starting a second one"
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = why_no_cluster()
    if reason:
        pytest.skip(f"no SLURM test cluster: {reason}")
    state = tmp_path_factory.mktemp("slurm")
    subprocess.run(["bash", str(CLUSTER), "start", str(state)], check=True, timeout=120)
    try:
        yield state
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(state)], check=True, timeout=120)


def start_slurm(workdir: Path, *args: str) -> subprocess.Popen:
    """`snakemake --profile slurm` as users type it, from the repository's root (where the bare name resolves), in a
    session of its own so that it can be killed whole."""
    return subprocess.Popen([*SNAKEMAKE, "--profile", "slurm", "--directory", str(workdir), *TEST_CLUSTER, *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8",
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: int = 1800) -> str:
    """Its output once it succeeded; killed outright past `timeout` (a wrong status command can make it wait
    forever, deaf to SIGTERM)."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"snakemake through SLURM ran past {timeout}s:\n{out[-4000:]}")
    assert proc.returncode == 0, out[-6000:]
    return out


def through_slurm(workdir: Path, *args: str) -> str:
    return finish(start_slurm(workdir, *args))


def slurm_jobs() -> pd.DataFrame:
    """Every job the cluster has run (finished jobs stay listed for MinJobAge): id, state, tasks, Snakemake's comment
    (the rule or group it ran)."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%k"], capture_output=True, text=True,
                         check=True, encoding="utf-8").stdout
    rows = [line.split("|", 2) for line in out.splitlines() if line.strip()]
    jobs = pd.DataFrame(rows, columns=["id", "state", "comment"]).astype({"id": int})
    tasks = {job: scontrol(job).get("NumTasks") for job in jobs["id"]}
    return jobs.assign(tasks=jobs["id"].map(tasks).astype(int)).sort_values("id", ignore_index=True)


def scontrol(job: int) -> dict:
    text = subprocess.run(["scontrol", "show", "job", str(job)], capture_output=True, encoding="utf-8",
                          check=True).stdout
    return dict(field.split("=", 1) for field in text.split() if "=" in field)


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm-dag")
    (workdir / "config.yaml").write_text(yaml.safe_dump(tiny_config()), encoding="utf-8")
    before = set(slurm_jobs()["id"])
    log = through_slurm(workdir, "all")
    jobs = slurm_jobs()
    return workdir, log, jobs[~jobs["id"].isin(before)].reset_index(drop=True)


def test_every_job_goes_through_sbatch_in_bundles(slurm_run):
    workdir, log, jobs = slurm_run
    assert (jobs["state"] == "COMPLETED").all(), jobs
    # Snakemake's own record of its submissions is the cluster's
    assert log.count("has been submitted with SLURM jobid") == len(jobs)
    # world_source, world_valset, download; negate as one bundle of 2 shards, synthesize and pack as another; the
    # benchmark analogues as one; a train job per run; one export+evaluate job per run; the paired bootstrap; the report.
    # Snakemake's comment on each job names its rule, or its group and then its rules.
    expected = {"rule_world_source": 1, "rule_world_valset": 1, "rule_download": 1, "rule_negate_negate": 1,
                "rule_synthesize_": 1, "rule_benchmarks_": 1, "rule_train_": 4, "rule_evaluate-": 4,
                "rule_significance": 1, "rule_report": 1}
    kinds = [next((kind for kind in expected if comment.startswith(kind)), comment) for comment in jobs["comment"]]
    assert pd.Series(kinds).value_counts().to_dict() == expected, jobs
    # a bundle ran both of its shards, each with its own log
    for stage in ("negate", "synthesize", "pack"):
        assert sorted(p.name for p in (workdir / f"logs/{stage}").glob("*.log")) == ["00000.log", "00001.log"]


def test_the_cluster_run_reports_what_the_local_run_reports(slurm_run, dag_run):
    workdir, _, _ = slurm_run
    for name in ("results.csv", "summary.csv"):  # the local run has every benchmark, this one the plumbing's
        assert report_rows(workdir, name, PLUMBING) == report_rows(dag_run, name, PLUMBING)


def test_two_processes_through_srun_train_like_one(slurm_run):
    workdir, _, _ = slurm_run
    run = workdir / "results/train/tripletclip/seed0"
    one = workdir / "one-process"
    shutil.copytree(run, one)
    (workdir / "two.yaml").write_text(yaml.safe_dump({"train": {"processes": 2}}), encoding="utf-8")
    before = set(slurm_jobs()["id"])
    # two.yaml goes over config.yaml (which the Snakefile reads); targets are relative to the working directory
    through_slurm(workdir, "--configfile", str(workdir / "two.yaml"), "--forcerun", "train", "--",
                  str(run.relative_to(workdir) / "checkpoint.pt"))
    jobs = slurm_jobs()
    jobs = jobs[~jobs["id"].isin(before)]
    assert len(jobs) == 1 and jobs["comment"].iloc[0].startswith("rule_train_"), jobs
    assert jobs["tasks"].tolist() == [2] and (jobs["state"] == "COMPLETED").all()  # one srun task per process
    assert io.read_json(run / "metrics.json")["world_size"] == 2
    losses_one, losses_two = pd.read_csv(one / "log.csv"), pd.read_csv(run / "log.csv")
    assert len(losses_two) == 4
    # log.csv keeps 5 decimals: two losses 2e-6 apart may print one unit apart, hence the half unit of slack
    assert losses_two["loss"].tolist() == pytest.approx(losses_one["loss"].tolist(), abs=1.5e-5)
    w1 = models.load_checkpoint(one / "checkpoint.pt")["model"]
    w2 = models.load_checkpoint(run / "checkpoint.pt")["model"]
    assert set(w1) == set(w2)
    for name, tensor in w1.items():
        assert torch.allclose(tensor, w2[name], atol=1e-5), name


def test_a_job_the_scheduler_kills_is_resubmitted_and_resumes_to_the_same_weights(slurm_run):
    workdir, _, _ = slurm_run
    run = workdir / "results/train/clip/seed1"
    (workdir / "long.yaml").write_text(yaml.safe_dump({"train": {"steps": 60, "checkpoint_every": 5}}),
                                       encoding="utf-8")
    args = ["--configfile", str(workdir / "long.yaml"), "--forcerun", "train", "--",
            str(run.relative_to(workdir) / "checkpoint.pt")]
    before = set(slurm_jobs()["id"])
    proc = start_slurm(workdir, *args)
    # a preemption in the middle of training: the job is cancelled once it has left a resume point
    deadline = time.monotonic() + 600
    while not (run / "resume.pt").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            finish(proc, timeout=1)  # kills it and shows its output
            raise AssertionError("training never wrote resume.pt")
        time.sleep(0.2)
    killed = slurm_jobs().query("state == 'RUNNING'")["id"].tolist()
    assert len(killed) == 1
    subprocess.run(["scancel", str(killed[0])], check=True)
    finish(proc, timeout=900)
    jobs = slurm_jobs()
    jobs = jobs[~jobs["id"].isin(before)]
    assert jobs["state"].tolist() == ["CANCELLED", "COMPLETED"], jobs  # resubmitted (retries: 2)
    assert "resuming clip from step" in (workdir / "logs/train/clip/seed1.log").read_text(encoding="utf-8")
    assert len(pd.read_csv(run / "log.csv")) == 60
    resumed = models.load_checkpoint(run / "checkpoint.pt")["model"]
    through_slurm(workdir, *args)  # the same run, uninterrupted
    assert "resuming" not in (workdir / "logs/train/clip/seed1.log").read_text(encoding="utf-8")
    for name, tensor in models.load_checkpoint(run / "checkpoint.pt")["model"].items():
        assert torch.allclose(tensor, resumed[name], atol=1e-6), name
