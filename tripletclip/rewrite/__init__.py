"""The rewrite stage: K rewrites of every caption of a shard, or of any caption file, as LaCLIP (Fan et al.,
NeurIPS 2023) trains on (issue 29).

Backends (config `rewrite.backend`, or `--backend` of `python -m tripletclip.rewrite`):
- shapes: other wordings of a shapes-world caption's scene, the embedded default's stand-in (paraphrase.py);
- transformers, vllm: LaCLIP's in-context prompt (prompt.py) through the negate stage's engines, every answer checked,
  retried and counted (llm.py);
- laclip: the rewrites LaCLIP released for CC3M, CC12M and RedCaps, read by row (release.py).
The run itself (batches, checkpoint, atomic output, stats) is stage.py, on the negate stage's machinery.
"""

from .base import BACKENDS, Outcome, Rewriter, config_options, make_rewriter
from .stage import rewrite_file, rewrite_shard

__all__ = ["BACKENDS", "Outcome", "Rewriter", "config_options", "make_rewriter", "rewrite_file", "rewrite_shard"]
