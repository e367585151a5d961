"""``rescan report`` (argparse to move here from ``pipeline.review.report``)."""
from pipeline.review.report import main  # noqa: F401
