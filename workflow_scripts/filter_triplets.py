"""rule filter_triplets -> tripletclip.quality.filter_shards"""
from tripletclip import logs, quality


def main(smk):
    logs.setup(smk.log[0])
    f = smk.params.filter
    quality.filter_shards(list(smk.input.shards), list(smk.input.scores), list(smk.output.shards),
                          smk.output.stats, smk.output.plot, f["keep_fraction"], f["keep_top_k"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
