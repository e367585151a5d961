"""pyarrow schema and layout of the reviewers' verdicts.

Layout under an output root ``ROOT`` (beside the scan's datasets)::

    ROOT/reviews/day=<YYYY-MM-DD>/review-<UTC time>-<random>.parquet

The dataset is append-only: every submitted verdict is a new file and no
file is ever rewritten, so each clip keeps its whole history (who, when,
what, why).  Each reviewer's most recent row on a clip is their verdict (a
reviewer who changes their mind just submits again); the clip's outcome is
the majority of those, a tie being "disputed"
(``pipeline.review.query.OUTCOME_RULE``).  ``clip_id`` does not depend on
the scan, so a verdict still applies when a re-scan finds the clip again.  The partition key
``day`` is not a column of the files (BigQuery refuses a hive key that is).
"""
import datetime
from typing import Tuple

import pyarrow as pa

VIOLATING = 'violating'
NOT_VIOLATING = 'not_violating'
UNSURE = 'unsure'
VERDICTS: Tuple[str, ...] = (VIOLATING, NOT_VIOLATING, UNSURE)

REVIEWS_DATASET = 'reviews'
REVIEWS_PARTITION_KEY = 'day'

REVIEWS = pa.schema(
    [
        pa.field('clip_id', pa.string(), nullable=False),
        pa.field('verdict', pa.string(), nullable=False,
                 metadata={'description': ' | '.join(VERDICTS)}),
        pa.field('reviewer', pa.string(), nullable=False),
        pa.field('reviewed_at', pa.timestamp('us', tz='UTC'),
                 nullable=False),
        pa.field('note', pa.string()),
    ],
    metadata={'description': 'One row per submitted verdict on a flagged '
              'clip (joined to flagged_clips by clip_id); each reviewer\'s '
              'latest row on a clip is their verdict, and the majority of '
              'those the clip\'s outcome (a tie: disputed).'})


def review_file_path(root: str, reviewed_at: datetime.datetime,
                     token: str) -> str:
  """Where one submission goes; ``token`` keeps same-instant files apart."""
  day = reviewed_at.strftime('%Y-%m-%d')
  stamp = reviewed_at.strftime('%Y%m%dT%H%M%S%fZ')
  return (f"{root.rstrip('/')}/{REVIEWS_DATASET}/"
          f'{REVIEWS_PARTITION_KEY}={day}/review-{stamp}-{token}.parquet')


def reviews_glob(root: str) -> str:
  """A glob over every verdict file, for DuckDB and others."""
  return f"{root.rstrip('/')}/{REVIEWS_DATASET}/*/*.parquet"
