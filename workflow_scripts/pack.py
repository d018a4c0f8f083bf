"""rule pack -> tripletclip.pack.pack_shard"""
from tripletclip import logs, pack


def main(smk):
    logs.setup(smk.log[0])
    i = smk.input
    pack.pack_shard(i.download, i.negatives, i.synthesized, smk.output.tar, smk.output.stats,
                    image_key=smk.params.image_key, caption_key=smk.params.caption_key)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
