"""rule report -> tripletclip.report.write_report"""
from tripletclip import logs, report


def main(smk):
    log = logs.setup(smk.log[0])
    # an evaluation-only run (train.methods: []) has no runs, metrics or logs: only the models of `models:`
    train_logs = dict(zip(map(tuple, smk.params.runs), smk.input.logs, strict=True))
    summary = report.write_report(list(smk.input.evals), list(smk.input.metrics), train_logs,
                                  dict(smk.output.items()), init=smk.params.init)
    log.info("results:\n%s", summary.to_string())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
