"""rule arm_view -> tripletclip.io.write_json: what one arm reads beside the training shards (tripletclip.data.View)"""
from tripletclip import io, logs


def main(smk):
    view = smk.params.view
    files = ", ".join(k for k in view if k != "extra_pairs") or "no other file"
    logs.setup(smk.log[0]).info("arm %s reads %s beside the shards%s", smk.wildcards.method, files,
                                ", and its negative pairs as positives" if view.get("extra_pairs") else "")
    io.write_json(smk.output[0], view)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
