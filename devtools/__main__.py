"""``python -m devtools``: the developer commands (see devtools.cli)."""
from devtools.cli import main

main()
