"""rule score_triplets -> tripletclip.quality.score_shard"""
import torch

from tripletclip import io, logs, models, quality


def main(smk):
    logs.setup(smk.log[0])
    f = smk.params.filter
    torch.set_num_threads(smk.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, _, preprocess, tokenizer = models.create(f["model"], f["pretrained"], device)
    io.write_json(smk.output[0], quality.score_shard(smk.input[0], model, preprocess, tokenizer, f["batch_size"],
                                                     device))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
