"""rule synthesize -> tripletclip.synthesize.synthesize_shard"""
from tripletclip import logs, synthesize


def main(smk):
    logs.setup(smk.log[0])
    s = smk.params.synthesize
    options = {"image_size": s["image_size"], "seed": smk.params.seed}
    if s["backend"] == "diffusers":
        options.update(s["diffusers"], batch_size=s["batch_size"])
    synthesizer = synthesize.make_synthesizer(s["backend"], **options)
    synthesize.synthesize_shard(smk.input[0], smk.output.tar, smk.output.stats, synthesizer, s["batch_size"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
