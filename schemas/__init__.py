"""Output table schemas, defined once and used by every writer and reader.

This package imports nothing of ours, so readers (DuckDB scripts, BigQuery
loaders, notebooks) can depend on it alone.
"""
from schemas.hash_tables import BANK_ENTRIES
from schemas.hash_tables import FRAME_HASHES
from schemas.hash_tables import HASH_MATCHES
from schemas.tables import DATASETS
from schemas.tables import DEFAULTS_OF_OLD_FILES
from schemas.tables import FLAGGED_CLIPS
from schemas.tables import FRAME_SCORES
from schemas.tables import MODALITIES
from schemas.tables import MODALITY_AUDIO
from schemas.tables import MODALITY_VISUAL
from schemas.tables import STATUS_FAILED
from schemas.tables import STATUS_PARTIAL
from schemas.tables import STATUS_SCANNED
from schemas.tables import STATUS_SKIPPED
from schemas.tables import VIDEOS
from schemas.tables import dataset_glob
from schemas.tables import partition_dir

__all__ = ['STATUS_FAILED', 'STATUS_PARTIAL', 'STATUS_SCANNED', 'STATUS_SKIPPED', 'BANK_ENTRIES', 'FRAME_HASHES', 'HASH_MATCHES', 'DATASETS', 'DEFAULTS_OF_OLD_FILES', 'MODALITIES', 'MODALITY_AUDIO', 'MODALITY_VISUAL', 'FLAGGED_CLIPS', 'FRAME_SCORES', 'VIDEOS', 'dataset_glob',
           'partition_dir']
