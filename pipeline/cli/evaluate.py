"""``rescan evaluate`` (argparse to move here from ``model.evaluate``)."""
from model.evaluate import main  # noqa: F401
