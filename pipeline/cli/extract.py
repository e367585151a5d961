"""``rescan extract`` (argparse to move here from ``pipeline.review.extract``)."""
from pipeline.review.extract import main  # noqa: F401
