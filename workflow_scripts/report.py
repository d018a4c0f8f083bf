"""rule report -> tripletclip.report.write_report"""
from tripletclip import logs, report


def main(smk):
    log = logs.setup(smk.log[0])
    table = report.write_report(dict(zip(smk.params.methods, smk.input)), smk.output.csv, smk.output.markdown,
                                smk.output.plot)
    log.info("SugarCrepe:\n%s", table.to_string())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
