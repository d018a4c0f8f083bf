"""rule negate -> tripletclip.negate.negate_shard"""
from tripletclip import logs, negate, shapes


def main(smk):
    logs.setup(smk.log[0])
    cfg = smk.params.negate
    options = negate.config_options(cfg)
    if cfg["backend"] == "shapes" and smk.params.source == "shapes":
        # training negatives must not show the held-out combinations either
        options["forbidden"] = shapes.heldout_combos(smk.params.seed, smk.params.world["heldout_combos"])
    negator = negate.make_negator(cfg["backend"], num_negatives=cfg["num_negatives"], seed=smk.params.seed, **options)
    negate.negate_shard(smk.input[0], smk.output.negatives, smk.output.stats, negator, cfg["batch_size"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
