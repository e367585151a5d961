"""Records and Parquet schemas stay in step."""
import datetime

import pyarrow as pa

import schemas
from pipeline.records import FlaggedClip
from pipeline.records import SampleScore
from pipeline.records import VideoLedgerRow


def test_records_mirror_the_schemas_field_for_field():
  assert list(FlaggedClip._fields) == schemas.FLAGGED_CLIPS.names
  assert list(VideoLedgerRow._fields) == schemas.VIDEOS.names
  assert list(SampleScore._fields) == schemas.FRAME_SCORES.names


def test_a_record_converts_to_its_schema():
  now = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
  clip = FlaggedClip('c', 'v', 'gs://b/v.mp4', 'x', 0, 500, 0, .9, .8, 1, 'm',
                     '1', .5, 's', now, b'\xff\xd8')
  table = pa.Table.from_pylist([clip._asdict()], schema=schemas.FLAGGED_CLIPS)
  assert table.column('scanned_at')[0].as_py() == now


def test_partition_layout():
  assert schemas.partition_dir('gs://b/out/', 'videos', 'x') == \
      'gs://b/out/videos/scan=x'
  assert schemas.dataset_glob('/r', 'flagged_clips') == \
      '/r/flagged_clips/*/*.parquet'
