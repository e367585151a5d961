"""``rescan match`` (argparse to move here from ``pipeline.hashes.match_job``)."""
from pipeline.hashes.match_job import main  # noqa: F401
