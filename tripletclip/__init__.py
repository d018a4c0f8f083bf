"""tripletclip-pipeline: the logic behind the Snakemake workflow (one module per stage)."""

from .environment import offline_imports

# Nothing may reach for the network when a module is imported, however the process was started (a CLI, a rule's job,
# `snakemake` typed without make).
offline_imports()

__version__ = "0.1.0"
