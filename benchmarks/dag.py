"""Time the whole DAG on the embedded default and report what the models learned.

    python benchmarks/dag.py --run DIR   # run `snakemake --profile profiles/local all` in DIR (a fresh copy of
                                         # config.yaml), then summarize
    python benchmarks/dag.py DIR         # summarize a finished run (DIR = the repo after `make run`)

Prints Markdown for BENCHMARKS.md: wall time, seconds per rule (Snakemake's benchmark files), and each method's
in-distribution retrieval against chance.
"""

import argparse
import collections
import csv
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--run", action="store_true", help="run the DAG in WORKDIR first")
    args = parser.parse_args()
    if args.run:
        args.workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "config.yaml", args.workdir / "config.yaml")
        start = time.time()
        subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--profile",
                        str(REPO / "profiles/local"), "--directory", str(args.workdir), "all"], check=True)
        print(f"\nDAG wall time: {time.time() - start:.0f} s on {platform.processor() or platform.machine()}, "
              f"{__import__('os').cpu_count()} cores\n")
    per_rule = collections.defaultdict(list)
    for tsv in sorted((args.workdir / "logs").rglob("*.benchmark.tsv")):
        parts = tsv.relative_to(args.workdir / "logs").parts  # logs/RULE.benchmark.tsv or logs/RULE/.../x.tsv
        rule = parts[0] if len(parts) > 1 else parts[0].split(".")[0]
        with open(tsv, encoding="utf-8") as f:
            per_rule[rule].append(float(next(csv.DictReader(f, delimiter="\t"))["s"]))
    print("| rule | jobs | seconds (sum) |\n|---|---:|---:|")
    for rule, seconds in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
        print(f"| {rule} | {len(seconds)} | {sum(seconds):.1f} |")
    print(f"| **all jobs** | {sum(map(len, per_rule.values()))} | {sum(map(sum, per_rule.values())):.1f} |\n")
    print("| method | seed | steps x batch | train s | val image->text R@1 | text->image R@1 | chance |\n"
          "|---|---:|---|---:|---:|---:|---:|")
    for metrics in sorted((args.workdir / "results/train").glob("*/seed*/metrics.json")):
        m = json.loads(metrics.read_text(encoding="utf-8"))
        v = m.get("val", {})
        print(f"| {m['method']} | {m['seed']} | {m['steps']} x {m['batch_size']} | {m['seconds']:.0f} | {v.get('i2t_r1', 0):.1f} % "
              f"| {v.get('t2i_r1', 0):.1f} % | {v.get('chance_r1', 0):.2f} % |")


if __name__ == "__main__":
    main()
