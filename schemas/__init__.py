"""Output table schemas, defined once and used by every writer and reader.

This package imports nothing of ours, so readers (DuckDB scripts, BigQuery
loaders, notebooks) can depend on it alone.
"""
from schemas.tables import DATASETS
from schemas.tables import FLAGGED_CLIPS
from schemas.tables import VIDEOS
from schemas.tables import dataset_glob
from schemas.tables import partition_dir

__all__ = ['DATASETS', 'FLAGGED_CLIPS', 'VIDEOS', 'dataset_glob',
           'partition_dir']
