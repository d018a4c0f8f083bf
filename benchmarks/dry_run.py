"""How long Snakemake takes to plan a CC12M-sized run, and how many cluster jobs profiles/slurm makes of it.

    python benchmarks/dry_run.py [--samples 12423374] [--samples-per-shard 10000] [--rounds 3]

Writes a config for `source: tsv` with CC12M's size (a one-line URL list stands in: a dry run reads no input), then
times `snakemake -n` with the local profile and with profiles/slurm (its bundles), each in a fresh process, in
alternating rounds. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LOCAL_RULES = {"all", "training_set"}  # they run in Snakemake's own process (a dry run does not say which do)


def dry_run(workdir: Path, profile: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--profile",
                           str(REPO / "profiles" / profile), "--directory", str(workdir), "-n", "all"],
                          capture_output=True, text=True, encoding="utf-8")
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    return seconds, done.stdout + done.stderr


def cluster_jobs(log: str) -> collections.Counter:
    """Submissions per rule or bundle in a dry run's log: each group job once, each ungrouped job once."""
    jobs: collections.Counter = collections.Counter()
    in_group = False
    for line in log.splitlines():
        if m := re.search(r"\] Group job (\S+) \(jobs", line):
            jobs["bundle: " + re.sub(r"^evaluate-.*", "evaluate-{method}-seed{seed}", m.group(1))] += 1
            in_group = True
        elif m := re.match(r"(\s*)rule (\w+):", line):
            if not m.group(1):  # an ungrouped job starts at column 0; a group's members are indented
                in_group = False
            if not in_group and m.group(2) not in LOCAL_RULES:
                jobs[m.group(2)] += 1
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=12_423_374)  # CC12M's pairs
    parser.add_argument("--samples-per-shard", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "cc12m.tsv").write_text("url\tcaption\nhttps://example.org/0.jpg\ta photo\n", encoding="utf-8")
        config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
        config["source"] = "tsv"
        config["download"] |= {"url_list": str(workdir / "cc12m.tsv"), "num_samples": args.samples,
                               "samples_per_shard": args.samples_per_shard}
        config["negate"]["backend"] = "vllm"
        config["synthesize"]["backend"] = "diffusers"
        config["train"] |= {"model": "ViT-B-32", "seeds": [0, 1, 2]}
        (workdir / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        times = collections.defaultdict(list)
        logs = {}
        for _ in range(args.rounds):
            for profile in ("local", "slurm"):
                seconds, logs[profile] = dry_run(workdir, profile)
                times[profile].append(seconds)
    shards = -(-args.samples // args.samples_per_shard)
    print(f"Dry run (`snakemake -n all`) of a CC12M-sized config: {args.samples:,} samples, {shards:,} shards of "
          f"{args.samples_per_shard:,}, 5 methods x 3 seeds; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, median of {args.rounds} fresh processes each.\n")
    print("| profile | wall s (median) | min | max | jobs | cluster jobs |\n|---|---:|---:|---:|---:|---:|")
    for profile, seconds in times.items():
        jobs = int(re.search(r"^total\s+(\d+)", logs[profile], re.M).group(1))
        submitted = sum(cluster_jobs(logs[profile]).values()) if profile == "slurm" else "-"
        print(f"| {profile} | {statistics.median(seconds):.1f} | {min(seconds):.1f} | {max(seconds):.1f} | {jobs:,} "
              f"| {submitted} |")
    print("\n| cluster job | count |\n|---|---:|")
    for name, count in sorted(cluster_jobs(logs["slurm"]).items()):
        print(f"| {name} | {count} |")


if __name__ == "__main__":
    main()
