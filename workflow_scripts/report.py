"""rule report -> tripletclip.report.write_report"""
from tripletclip import logs, report


def main(smk):
    log = logs.setup(smk.log[0])
    runs = {(method, seed): path for (method, seed), path in zip(smk.params.runs, smk.input.sugarcrepe)}
    summary = report.write_report(runs, list(smk.input.metrics), smk.output.csv, smk.output.summary,
                                  smk.output.markdown, smk.output.plot)
    log.info("SugarCrepe:\n%s", summary.to_string())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
