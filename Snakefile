# tripletclip-pipeline: download -> negate -> synthesize -> pack -> train -> export -> evaluate -> report.
# `snakemake all` runs the embedded default (config.yaml) with the workflow profile profiles/default; see README.md.

import sys

from snakemake.utils import min_version

min_version("9.0")

# Every rule's job imports this repository's package `tripletclip`, in whatever environment runs it: this process's,
# a per-rule conda env, a container, another interpreter (negate.python). None of those needs it installed: the
# repository is on the path of this process and, through PYTHONPATH, of every job it starts (locally, or through
# sbatch, which passes the environment on).
sys.path.insert(0, workflow.basedir)
from tripletclip import environment

environment.share_package_path()


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/world.smk"
include: "rules/download.smk"
include: "rules/sources.smk"
include: "rules/rewrite.smk"
include: "rules/negate.smk"
include: "rules/synthesize.smk"
include: "rules/pack.smk"
include: "rules/filter.smk"
include: "rules/train.smk"
include: "rules/export.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


localrules:
    all,


rule all:
    input:
        # The packed shards are a product of their own (users train on them elsewhere): asking for them means a
        # deleted shard is rebuilt, and all that depends on it reruns.
        packed_shards(),
        rules.report.output,
