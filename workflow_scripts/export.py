"""rule export -> tripletclip.models.export_local_dir"""
from tripletclip import logs, models


def main(smk):
    logs.setup(smk.log[0])
    models.export_local_dir(smk.input[0], smk.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
