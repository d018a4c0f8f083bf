"""rule eval_table -> tripletclip.report.write_long: one benchmark's metrics for every model, as results.csv's rows"""
from tripletclip import logs, report


def main(smk):
    log = logs.setup(smk.log[0])
    long = report.write_long(list(smk.input), smk.output[0])
    log.info("%s: %d rows of %d models", smk.output[0], len(long), long["method"].nunique())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
