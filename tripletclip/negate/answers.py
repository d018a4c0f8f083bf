"""Turning an LLM's raw answer into a negative caption, or into the reason it is not one.

`clean` strips what models wrap around the caption (an "Output:" label, quotes, a lead-in sentence, further lines, a
continued few-shot "Input: ..."); `check` then rejects what is still not a usable hard negative. Each reason is a key
of the shard stats.
"""

from __future__ import annotations

import re

from spacy.lang.en.stop_words import STOP_WORDS

from .rules import normalized

REASONS = ("empty", "refusal", "explanation", "echo", "length", "unrelated", "duplicate")  # duplicate: llm.py

_CONTINUATION = re.compile(r"(?:^|\s)(?:Input|Caption)\s*:", re.IGNORECASE)
_OUTPUT_LABEL = re.compile(r"\bOutput\s*:\s*", re.IGNORECASE)
_LEAD_IN = re.compile(
    r"^(?:(?:sure|okay|ok|certainly)[,!.]?\s*)?(?:here(?:'s| is) (?:the |an? )?(?:updated |new |modified )?"
    r"(?:description|caption)[^:]*:\s*|(?:updated|new|modified)?\s*(?:description|caption|answer|output)\s*[:\-]\s*)",
    re.IGNORECASE)
_QUOTES = "\"'“”‘’`*"
_EXPLANATION_PAREN = re.compile(r"\s*\((?:changed|note|i |modified|replaced|this )[^)]*\)?\s*$", re.IGNORECASE)
_REFUSAL = re.compile(
    r"^(?:i'?m sorry|i am sorry|sorry|i cannot|i can'?t|i can not|i'?m unable|i am unable|i apologi[sz]e|"
    r"unfortunately)|\bas an ai\b|\blanguage model\b", re.IGNORECASE)
_EXPLANATION = re.compile(
    r"\b(?:the (?:original|updated|new|input|given) (?:description|caption)|i (?:have )?(?:changed|modified|"
    r"replaced|swapped)|(?:changing|replacing) the|this (?:description|caption)|note\s*:|here is|here's)\b",
    re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")


def clean(answer: str) -> str:
    text = (answer or "").strip()
    if _CONTINUATION.match(text):  # "Input: <caption> Output: <negative>": the model echoed the example format
        text = _OUTPUT_LABEL.split(text, maxsplit=1)[-1] if _OUTPUT_LABEL.search(text) else ""
    text = _OUTPUT_LABEL.sub("", text, count=1) if _OUTPUT_LABEL.match(text) else text
    match = _CONTINUATION.search(text)
    if match and match.start() > 0:  # the model went on with a new few-shot example
        text = text[:match.start()]
    lines = [line.strip() for line in text.splitlines() if line.strip(" \t" + _QUOTES)]
    if not lines:
        return ""
    line = _LEAD_IN.sub("", lines[0]).strip()
    if not line.strip(_QUOTES) and len(lines) > 1:  # "Here is the updated description:" on a line of its own
        line = lines[1]
    line = line.lstrip("-• ").strip().strip(_QUOTES).strip()
    line = _EXPLANATION_PAREN.sub("", line).strip().strip(_QUOTES).strip()
    return " ".join(line.split())


def check(negative: str, caption: str, max_length_ratio: float = 1.5, min_overlap: float = 0.3) -> str | None:
    """Why `negative` (already cleaned) is not a hard negative of `caption`, or None if it is one.

    length: word counts, each plus 2 so that a short caption may gain or lose a word, differ by more than
    `max_length_ratio`. unrelated: fewer than `min_overlap` of the caption's content words are kept (the paper's
    own second example keeps 3 of 8)."""
    if not any(ch.isalpha() for ch in negative):
        return "empty"
    if _REFUSAL.search(negative):
        return "refusal"
    if _EXPLANATION.search(negative):
        return "explanation"
    if normalized(negative) == normalized(caption):
        return "echo"
    n_neg, n_cap = len(negative.split()), len(caption.split())
    ratio = (n_neg + 2) / (n_cap + 2)
    if not 1 / max_length_ratio <= ratio <= max_length_ratio:
        return "length"
    content = {w for w in _WORD.findall(caption.lower()) if w not in STOP_WORDS}
    if content:
        kept = content & set(_WORD.findall(negative.lower()))
        if len(kept) < min_overlap * len(content):
            return "unrelated"
    return None
