"""rules eval_{benchmark}_model (a model trained here) and eval_{benchmark}_named (one of `models:`, or train.init)
-> tripletclip.evals.{benchmark}.evaluate"""
import os

import torch

from tripletclip import evals, io, logs, models


def main(smk):
    log = logs.setup(smk.log[0])
    torch.set_num_threads(smk.threads)
    benchmark = smk.params.benchmark
    if smk.input.get("spec"):  # the shapes analogue: its spec and paths relative to its folder
        spec, root = io.read_json(smk.input.spec), os.path.dirname(smk.input.spec)
    else:  # real data: the config block, paths relative to the working directory
        spec, root = smk.params.options, "."
    if "model" in smk.wildcards.keys():  # a model of `models:`: a row of its own, not trained here
        name = smk.wildcards.model
        loaded = models.load(smk.params.model, name=name)
        row = {"method": name, "seed": None, "trained": False, "model": loaded.spec.as_dict()}
    else:
        name = f"{smk.wildcards.method} seed {smk.wildcards.seed}"
        loaded = models.load(f"local-dir:{smk.input.model}", name=name)
        row = {"method": smk.wildcards.method, "seed": int(smk.wildcards.seed), "trained": True}
    metrics, details, samples = evals.module(benchmark).evaluate(loaded.model, loaded.preprocess_val,
                                                                 loaded.tokenizer, spec, root, smk.params.batch_size)
    with io.atomic_path(smk.output.samples) as tmp:
        samples.to_parquet(tmp, index=False)
    io.write_json(smk.output.json, {"benchmark": benchmark, **row, "metrics": metrics, "details": details})
    log.info("%s %s: %s", benchmark, name, {k: round(v, 2) for k, v in metrics.items()})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
