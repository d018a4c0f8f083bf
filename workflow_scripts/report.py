"""rule report -> tripletclip.report.write_report"""
import os

from tripletclip import browse, io, logs, report


def main(smk):
    log = logs.setup(smk.log[0])
    # an evaluation-only run (train.methods: []) has no runs, metrics or logs: only the models of `models:`
    train_logs = dict(zip(map(tuple, smk.params.runs), smk.input.logs, strict=True))
    # where each benchmark's images are: a shapes analogue's spec (paths from its folder), or the config's real data
    roots = {}
    for path in smk.input.specs:
        roots |= browse.image_roots(os.path.basename(os.path.dirname(path)), io.read_json(path), os.path.dirname(path))
    for benchmark, spec in smk.params.real_data.items():
        roots |= browse.image_roots(benchmark, spec)
    summary = report.write_report(list(smk.input.evals), list(smk.input.metrics), train_logs,
                                  dict(smk.output.items()), init=smk.params.init, sample_paths=list(smk.input.samples),
                                  baseline=smk.params.baseline, image_roots=roots, published=smk.params.published,
                                  confidence=smk.params.confidence, significance_table=smk.input.significance)
    log.info("results:\n%s", summary.to_string())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
