"""``python -m archive``: the auditor's entry point (see archive/cli.py)."""
from .cli import main

main()
