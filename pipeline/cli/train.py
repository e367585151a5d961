"""``rescan train`` (argparse to move here from ``model.train``)."""
from model.train import main  # noqa: F401
