"""python -m tripletclip.rewrite: K rewrites of every caption of any caption file, outside the DAG, with the DAG's code.

    python -m tripletclip.rewrite --backend transformers captions.txt -o rewrites.jsonl -k 4 --model DIR
    python -m tripletclip.rewrite --backend vllm cc3m.tsv --caption-col caption -o cc3m_rewrites.jsonl
    python -m tripletclip.rewrite --backend laclip cc3m.txt -o r.jsonl --files cc3m_chatgpt.txt cc3m_bard.txt \\
        cc3m_mscoco.txt cc3m_human.txt

Rerun after an interruption, it rewrites only the captions not done yet.
"""

from __future__ import annotations

import argparse
import functools
import sys

from .. import logs
from ..negate.__main__ import add_input_arguments, add_llm_arguments, header_of, llm_block, run_file
from .base import BACKENDS, config_options, make_rewriter
from .llm import LACLIP_SAMPLING, MAX_LENGTH_RATIO
from .stage import rewrite_file


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tripletclip.rewrite", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_arguments(p, "rewrites")
    p.add_argument("--backend", choices=BACKENDS, required=True)
    p.add_argument("-k", "--num-rewrites", type=int, default=4, help="rewrites per caption (LaCLIP: 4)")
    release = p.add_argument_group("LaCLIP's released rewrites (laclip)")
    release.add_argument("--files", nargs="+", metavar="TXT",
                         help="one rewrite per line, aligned with the input's rows")
    release.add_argument("--samples-per-shard", type=int, help="for a .tar shard of img2dataset: its samples per "
                         "shard, which map a sample key to its row (else a key is a text file's line number)")
    llm = p.add_argument_group("language model (transformers, vllm)")
    add_llm_arguments(llm, temperature=LACLIP_SAMPLING["temperature"], max_tokens=LACLIP_SAMPLING["max_tokens"],
                      max_length_ratio=MAX_LENGTH_RATIO)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    logs.setup()
    cfg = {"backend": args.backend, "num_rewrites": args.num_rewrites, "files": args.files,
           "batch_size": args.batch_size, "llm": llm_block(args)}
    # what decides the rewrites besides the input: a rerun with the same reuses what is done
    header = header_of(args)
    settings = {"rewrite": cfg, "seed": args.seed, "samples_per_shard": args.samples_per_shard,
                "caption_col": args.caption_col, "key_col": args.key_col, "header": header, "columns": args.columns}
    # built only when something is left to do: loading a language model takes minutes
    rewriter = functools.partial(make_rewriter, args.backend, num_rewrites=args.num_rewrites, seed=args.seed)
    return run_file(rewrite_file, args, rewriter, lambda c: config_options(c, args.samples_per_shard), cfg, settings,
                    ("in", "rewritten", "partial", "failed", "rewrites", "rejected"))


if __name__ == "__main__":
    sys.exit(main())
