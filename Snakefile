# tripletclip-pipeline: download -> negate -> synthesize -> pack -> train -> export -> evaluate -> report.
# `snakemake --profile profiles/local all` runs the embedded default (config.yaml); see README.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/world.smk"
include: "rules/download.smk"
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
        expand("results/pack/{shard}.tar", shard=SHARDS),
        rules.report.output,
