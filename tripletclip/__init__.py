"""tripletclip-pipeline: the logic behind the Snakemake workflow (one module per stage)."""

__version__ = "0.1.0"
