"""The package version, kept apart so `--version` imports nothing else."""

VERSION = "0.1.0"
