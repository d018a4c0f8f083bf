"""rule train -> tripletclip.launch.run (one process, or one per GPU through torchrun / srun)"""
import os

from tripletclip import io, launch, logs


def main(smk):
    logs.setup(smk.log[0])
    nodes, per_node = smk.params.layout
    launch.run(io.read_json(smk.input.shards)["shards"], os.path.dirname(smk.output.checkpoint), smk.params.loss,
               {**smk.params.train, "threads": smk.threads}, int(smk.wildcards.seed),
               val_shard=smk.input.val[0] if smk.input.val else None, nodes=nodes, processes_per_node=per_node,
               log_path=smk.log[0], arm=smk.wildcards.method,
               view=io.read_json(smk.input.view[0]) if smk.input.view else None)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
