"""rule negate -> tripletclip.negate.job.run (or .run_with negate.python, another environment's interpreter)"""
from tripletclip import logs
from tripletclip.negate import job


def main(smk):
    logs.setup(smk.log[0])
    cfg = smk.params.negate
    spec = {"input": smk.input[0], "negatives": smk.output.negatives, "stats": smk.output.stats, "negate": cfg,
            "seed": smk.params.seed, "caption_key": smk.params.caption_key,
            # the shapes world's negator keeps its held-out combinations out of every negative, whatever the source
            "heldout_combos": smk.params.world["heldout_combos"] if cfg["backend"] == "shapes" else None}
    if cfg.get("python"):
        job.run_with(cfg["python"], spec, smk.log[0])
    else:
        job.run(spec)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
