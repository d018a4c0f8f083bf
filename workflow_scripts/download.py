"""rule download -> tripletclip.download.download"""
from tripletclip import download, logs


def main(smk):
    logs.setup(smk.log[0])
    d = smk.params.download
    download.download(
        smk.input[0], "results/download", d["samples_per_shard"], d["image_size"], resize_mode=d["resize_mode"],
        url_col=d["url_col"], caption_col=d["caption_col"], processes=d["processes"], threads=d["threads"],
        timeout=d["timeout"], retries=d["retries"], expected_shards=smk.params.shards, header=d["header"],
        columns=d["columns"], num_samples=smk.params.num_samples,
    )


# img2dataset starts worker processes with "spawn", which re-imports this file: the guard keeps them from rerunning it.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821
