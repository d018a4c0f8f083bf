"""rule training_set -> tripletclip.io.write_json: the list of shards that every training run reads"""
from tripletclip import io, logs


def main(smk):
    logs.setup(smk.log[0]).info("%d training shards", len(smk.input))
    io.write_json(smk.output[0], {"shards": list(smk.input)})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
