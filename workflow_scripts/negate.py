"""rule negate -> tripletclip.negate.negate_shard"""
from tripletclip import logs, negate, shapes


def main(smk):
    logs.setup(smk.log[0])
    options = {"types": smk.params.negate["types"], "seed": smk.params.seed}
    if smk.params.source == "shapes":  # training negatives must not show the held-out combinations either
        options["forbidden"] = shapes.heldout_combos(smk.params.seed, smk.params.world["heldout_combos"])
    negator = negate.make_negator(smk.params.negate["backend"], **options)
    negate.negate_shard(smk.input[0], smk.output.negatives, smk.output.stats, negator)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
