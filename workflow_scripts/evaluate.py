"""rules eval_analogues_model and eval_analogues_named (every shapes analogue of the suite, one model), eval_model and
eval_named (one benchmark on real data, one model) -> tripletclip.evals.{benchmark}.evaluate for each benchmark of
params.benchmarks: a model trained here, or one of `models:` (or train.init)."""
import os

import torch

from tripletclip import evals, io, logs, models


def listed(value) -> list[str]:
    """A named input or output as a list: Snakemake gives one path as a str, several as a list."""
    return [value] if isinstance(value, str) else list(value)


def main(smk):
    log = logs.setup(smk.log[0])
    torch.set_num_threads(smk.threads)
    if "model" in smk.wildcards.keys():  # a model of `models:`: a row of its own, not trained here
        name = smk.wildcards.model
        loaded = models.load(smk.params.model, name=name)
        row = {"method": name, "seed": None, "trained": False, "model": loaded.spec.as_dict()}
    else:
        name = f"{smk.wildcards.method} seed {smk.wildcards.seed}"
        loaded = models.load(f"local-dir:{smk.input.model}", name=name)
        row = {"method": smk.wildcards.method, "seed": int(smk.wildcards.seed), "trained": True}
    outputs = zip(smk.params.benchmarks, listed(smk.output.json), listed(smk.output.samples))
    specs = listed(smk.input.get("specs", []))
    for i, (benchmark, json_path, samples_path) in enumerate(outputs):
        if specs:  # the shapes analogue: its spec and paths relative to its folder
            spec, root = io.read_json(specs[i]), os.path.dirname(specs[i])
        else:  # real data: the config block, paths relative to the working directory
            spec, root = smk.params.options, "."
        metrics, details, samples = evals.module(benchmark).evaluate(
            loaded.model, loaded.preprocess_val, loaded.tokenizer, spec, root, smk.params.batch_size)
        with io.atomic_path(samples_path) as tmp:
            samples.to_parquet(tmp, index=False)
        io.write_json(json_path, {"benchmark": benchmark, **row, "metrics": metrics, "details": details})
        log.info("%s %s: %s", benchmark, name, {k: round(v, 2) for k, v in metrics.items()})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
