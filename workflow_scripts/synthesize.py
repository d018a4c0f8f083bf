"""rule synthesize -> tripletclip.synthesize.synthesize_shard"""
from tripletclip import logs, synthesize


def main(smk):
    logs.setup(smk.log[0])
    s = smk.params.synthesize
    synthesizer = synthesize.make_synthesizer(s["backend"], image_size=s["image_size"], seed=smk.params.seed)
    synthesize.synthesize_shard(smk.input[0], smk.output.tar, smk.output.stats, synthesizer)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
