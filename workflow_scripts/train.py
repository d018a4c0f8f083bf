"""rule train -> tripletclip.train.train"""
import os

from tripletclip import logs, train


def main(smk):
    logs.setup(smk.log[0])
    t = smk.params.train
    train.train(
        list(smk.input.shards), os.path.dirname(smk.output.checkpoint), smk.wildcards.method, t["model"], t["steps"],
        t["batch_size"], t["lr"], t["weight_decay"], t["warmup_steps"], t["grad_clip"], smk.params.seed,
        val_shard=smk.input.val[0] if smk.input.val else None, workers=t["workers"], log_every=t["log_every"],
        eval_every=t["eval_every"], shuffle_buffer=t["shuffle_buffer"], threads=smk.threads,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
