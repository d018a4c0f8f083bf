"""The negate stage: hard-negative captions for every caption of a shard, or of any caption file.

Backends (config `negate.backend`, or `--backend` of `python -m tripletclip.negate`):
- shapes: the shapes world's rule negator, the embedded default's stand-in for the LLM (shapes.py);
- rules: CE-CLIP/NegCLIP-style perturbations of any English caption, parsed with spaCy (rules.py, lexicon.py);
- transformers, vllm: the TripletCLIP prompt (prompt.py) through a language model, every answer checked
  (answers.py), retried and counted (llm.py).
The run itself (batches, checkpoint, atomic output, stats) is stage.py; the inputs it reads, captions.py.
"""

from .base import BACKENDS, Negator, Outcome, config_options, make_negator
from .stage import negate_file, negate_records, negate_shard

__all__ = ["BACKENDS", "Negator", "Outcome", "config_options", "make_negator", "negate_file", "negate_records", "negate_shard"]
