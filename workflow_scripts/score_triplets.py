"""rule score_triplets -> tripletclip.quality.score_shard"""
import torch

from tripletclip import io, logs, models, quality


def main(smk):
    logs.setup(smk.log[0])
    f = smk.params.filter
    torch.set_num_threads(smk.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    # the one loader: the QuickGELU correction, checkpoint files of any layout, the offline hub checks
    scorer = models.load(smk.params.spec, device=device, name="filter")
    io.write_json(smk.output[0], quality.score_shard(smk.input[0], scorer.model, scorer.preprocess_val,
                                                     scorer.tokenizer, f["batch_size"], device))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
