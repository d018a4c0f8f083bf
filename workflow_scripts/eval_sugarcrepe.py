"""rule eval_sugarcrepe_model -> tripletclip.sugarcrepe.evaluate"""

import torch

from tripletclip import io, logs, models, sugarcrepe


def main(smk):
    log = logs.setup(smk.log[0])
    torch.set_num_threads(smk.threads)
    model, _, preprocess, tokenizer = models.create(f"local-dir:{smk.input.model}")
    s = smk.params.sugarcrepe
    results = sugarcrepe.evaluate(model, preprocess, tokenizer, smk.params.benchmark_dir, s["image_dir"],
                                  s["batch_size"])
    io.write_json(smk.output[0], results)
    log.info("SugarCrepe %s: %s", smk.wildcards.method, {k: round(v, 2) for k, v in results.items()})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
