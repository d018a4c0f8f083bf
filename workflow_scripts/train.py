"""rule train -> tripletclip.train.train"""
import os

from tripletclip import logs, train


def main(smk):
    logs.setup(smk.log[0])
    cfg = train.TrainConfig.from_config({**smk.params.train, "threads": smk.threads})
    train.train(list(smk.input.shards), os.path.dirname(smk.output.checkpoint), smk.wildcards.method, cfg,
                int(smk.wildcards.seed), val_shard=smk.input.val[0] if smk.input.val else None)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
