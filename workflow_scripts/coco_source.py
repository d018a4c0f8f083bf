"""rule coco_source -> tripletclip.sources.write_coco_shard"""
from tripletclip import logs, sources


def main(smk):
    logs.setup(smk.log[0])
    c = smk.params.coco
    sources.write_coco_shard(c["annotations"], c["image_dir"], c["splits"], int(smk.wildcards.shard),
                             smk.params.samples_per_shard, smk.output.tar, smk.output.stats)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (defined by Snakemake's script directive)
