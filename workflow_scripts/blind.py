"""rule blind_{benchmark} -> tripletclip.blind.evaluate"""
from pathlib import Path

import pandas as pd

from tripletclip import blind, io, logs


def main(smk):
    log = logs.setup(smk.log[0])
    shards = io.read_json(smk.input.shards)["shards"] if smk.input.get("shards") else []
    captions = blind.shard_captions(shards, smk.params.captions)
    benchmark = smk.params.benchmark
    outputs = {Path(path).stem: path for path in smk.output.json}
    for model, (metrics, table) in blind.evaluate(benchmark, pd.read_parquet(smk.input.pairs), captions).items():
        with io.atomic_path(outputs[model].removesuffix(".json") + ".parquet") as tmp:
            table.to_parquet(tmp, index=False)
        io.write_json(outputs[model], {"benchmark": benchmark, "method": model, "seed": None, "trained": False,
                                       "blind": True, "metrics": metrics, "details": {}})
        log.info("%s %s (fitted on %d training captions): %s", benchmark, model, len(captions),
                 {k: round(v, 2) for k, v in metrics.items()})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
