"""rule significance -> tripletclip.report.write_significance"""
from tripletclip import logs, report


def main(smk):
    log = logs.setup(smk.log[0])
    table = report.write_significance(list(smk.input.evals), list(smk.input.samples), smk.params.baseline,
                                      smk.output.csv, smk.output.table, **smk.params.significance)
    log.info("%d comparisons with %s, %d hold", len(table), smk.params.baseline,
             int(table["holds"].sum()) if "holds" in table else 0)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
