"""rule rewrite -> tripletclip.rewrite.job.run (or .run_with rewrite.python, another environment's interpreter)"""
from tripletclip import logs
from tripletclip.rewrite import job


def main(smk):
    logs.setup(smk.log[0])
    cfg = smk.params.rewrite
    spec = {"input": smk.input[0], "rewrites": smk.output.rewrites, "stats": smk.output.stats, "rewrite": cfg,
            "seed": smk.params.seed, "caption_key": smk.params.caption_key,
            "samples_per_shard": smk.params.samples_per_shard}
    job.start(spec, cfg.get("python"), smk.log[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
