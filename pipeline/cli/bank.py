"""``rescan bank`` (argparse to move here from ``pipeline.hashes.banks``)."""
from pipeline.hashes.banks import main  # noqa: F401
