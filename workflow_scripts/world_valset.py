"""rule world_valset -> tripletclip.world.write_valset"""
from tripletclip import logs, world


def main(smk):
    logs.setup(smk.log[0])
    w = smk.params.world
    world.write_valset(smk.output[0], w["val_samples"], w["image_size"], smk.params.seed, w["heldout_combos"],
                       w["hollow_rate"], w["third_object_rate"], w["colour_bias"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
