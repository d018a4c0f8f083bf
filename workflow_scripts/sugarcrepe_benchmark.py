"""rule sugarcrepe_benchmark -> tripletclip.sugarcrepe.build_shapes_benchmark"""
import os

from tripletclip import logs, sugarcrepe


def main(smk):
    logs.setup(smk.log[0])
    w = smk.params.world
    sugarcrepe.build_shapes_benchmark(os.path.dirname(smk.output.files[0]),
                                      smk.params.sugarcrepe["samples_per_category"], smk.params.seed,
                                      w["heldout_combos"], w["image_size"], w["hollow_rate"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
