"""rule negate -> tripletclip.negate.job.run (or .run_with negate.python, another environment's interpreter)"""
from tripletclip import logs
from tripletclip.negate import job


def main(smk):
    logs.setup(smk.log[0])
    cfg = smk.params.negate
    spec = {"input": smk.input[0], "negatives": smk.output.negatives, "stats": smk.output.stats, "negate": cfg,
            "seed": smk.params.seed, "caption_key": smk.params.caption_key,
            # the shapes world's held-out combinations stay out of every negative: the shapes negator's, whatever
            # the source, and any backend's on the world's captions
            "heldout_combos": smk.params.world["heldout_combos"]
            if cfg["backend"] == "shapes" or smk.params.source == "shapes" else None}
    job.start(spec, cfg.get("python"), smk.log[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
