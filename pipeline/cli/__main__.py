"""``python -m pipeline.cli``: the same as the ``rescan`` console script."""
from pipeline.cli.main import console_main

console_main()
