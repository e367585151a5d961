"""``rescan match``: match stored frame hashes against hash banks
(``pipeline.hashes.match_job``, a Beam job that parses its own flags)."""
from __future__ import annotations

import logging
import os
import sys
from typing import Optional, Sequence

import schemas
from pipeline.hashes import match_job
from pipeline.storage import claims
from pipeline.storage.parquet import BrokenParquetFile
from pipeline.storage.parquet import read_partition


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Runs the job; a missing bank, missing frame hashes or a frame-hash
  file that is no Parquet is one line on stderr and exit status 1; a scan id that is taken, exit status 2."""
  logging.getLogger().setLevel(os.environ.get('RESCAN_LOG_LEVEL', 'ERROR'))
  try:
    config = match_job.run(sys.argv[1:] if argv is None else argv)
  except (FileNotFoundError, BrokenParquetFile) as exc:
    print(f'rescan match: {exc}', file=sys.stderr)
    return 1
  except claims.ClaimError as exc:
    print(f'rescan match: error: {exc}', file=sys.stderr)
    return 2
  matches = read_partition(config.output, 'hash_matches', config.scan_id)
  videos = len(set(matches.column('video_id').to_pylist()))
  folder = schemas.partition_dir(config.output, 'hash_matches',
                                 config.scan_id)
  print(f'hash matches: {matches.num_rows} rows for {videos} videos in '
        f'{folder}')
  return 0
