"""gs:// for real, through a local GCS emulator process."""
import io
import json
import os

import pytest

from pipeline.media import decode
from pipeline.media import errors as media_errors
from pipeline.review import query as review_query
from pipeline.scan import identities
from pipeline.storage import files as storage
from pipeline.storage import scan_state
from model.synthetic_video import write_video
from tests.conftest import golden_rows
from tests.conftest import dead_pid
from tests.conftest import run_scan

pytestmark = pytest.mark.xdist_group('gcs')
BUCKET = 'uploads'  # the emulator fixture's bucket, holding archive/


def test_scan_reads_gs_patterns_and_manifests_and_writes_gs(
    emulator, corpus, golden_scan, marker_model_dir):
  bucket = emulator.bucket(BUCKET)
  names = sorted(b.name for b in bucket.list_blobs(prefix='archive/'))
  manifest_uris = [f'gs://{BUCKET}/{n}' for n in names if n.endswith('.avi')]
  manifest_uris.append(f'gs://{BUCKET}/archive/deleted.mp4')
  bucket.blob('lists/manifest.csv').upload_from_string(
      'uri\n' + '\n'.join(manifest_uris) + '\n')
  scan = run_scan('gs://results/rescans',
                  [f'gs://{BUCKET}/archive/**',
                   f'gs://{BUCKET}/lists/manifest.csv'],
                  marker_model_dir, 'gcs')
  clips, ledger = golden_rows(scan)
  golden_clips, golden_ledger = golden_rows(golden_scan)
  assert clips == golden_clips
  assert ledger - golden_ledger == {('deleted.mp4', 'failed', 'not_found', 0,
                                     0, 0)}
  assert golden_ledger <= ledger
  written = {b.name.split('/')[2] for b in
             emulator.bucket('results').list_blobs(prefix='rescans/')}
  # The partitions and the claim (``_claims/scan=gcs``), the state beside
  # it (complete, on GCS too) and the summary (``_summaries/scan=gcs.json``).
  assert written == {'scan=gcs', 'state', 'scan=gcs.json'}
  state = scan_state.read_state('gs://results/rescans', 'gcs')
  assert (state.state, state.committed) == (scan_state.COMPLETE, (0,))


def test_a_scan_in_waves_on_gcs_commits_reads_and_cleans_up_by_wave(
    emulator, corpus, marker_model_dir):
  """Waves on GCS: the state beside the claim, readers by committed wave,
  and the clean-up of a killed wave's objects (there are no folders)."""
  root = 'gs://results/waved'
  uris = sorted(f'gs://{BUCKET}/archive/{os.path.basename(v)}'
                for v in corpus.videos if os.path.dirname(v) == corpus.root)
  waves = {u: identities.wave_of(u, 2) for u in uris}
  assert set(waves.values()) == {0, 1}
  bucket = emulator.bucket(BUCKET)
  bucket.blob('lists/waved.csv').upload_from_string(
      'uri\n' + '\n'.join(uris) + '\n')
  run_scan(root, [f'gs://{BUCKET}/lists/waved.csv'], marker_model_dir, 'wv',
           '--waves', '2')
  state = scan_state.read_state(root, 'wv')
  assert (state.state, state.committed) == (scan_state.COMPLETE, (0, 1))
  seen = lambda: sorted(r['video_uri'] for r in  # pylint: disable=unnecessary-lambda-assignment
                        review_query.load_review_data(root).videos.to_pylist())
  assert seen() == uris
  # As if killed during wave 1's renames, its launcher (a process of this
  # host) gone: wave 1's objects and a temporary shard are never read, and
  # the next clean-up deletes them and nothing else.
  results = emulator.bucket('results')
  results.blob('waved/videos/scan=wv/beam-temp-wave-00001-of-00002-part-1/'
               'a.parquet').upload_from_string(b'not read')
  scan_state.write_state(root, state._replace(state=scan_state.RUNNING,
                                              committed=(0,)))
  assert seen() == [u for u in uris if waves[u] == 0]
  claim = results.blob('waved/_claims/scan=wv')
  record = json.loads(claim.download_as_bytes())
  record['pid'] = dead_pid()
  claim.upload_from_string(json.dumps(record))
  removed = scan_state.clean_orphans(root)
  assert removed and all('wave-00001' in p for p in removed)
  left = sorted(b.name for b in results.list_blobs(prefix='waved/')
                if '/scan=wv/' in b.name and '/_summaries/' not in b.name)
  assert left and all('/wave-00000-of-00002-part-' in n for n in left)
  assert seen() == [u for u in uris if waves[u] == 0]


def test_a_short_segment_of_a_large_object_reads_far_less_than_it(
    emulator, tmp_path):
  path = write_video(str(tmp_path / 'large.mp4'), 30.0, 'h264', fps=10.0,
                     size=(320, 240), gop_seconds=1.0, seed=3,
                     noise=1.0)
  size = os.path.getsize(path)
  emulator.bucket(BUCKET).blob('large/large.mp4').upload_from_filename(path)
  uri = f'gs://{BUCKET}/large/large.mp4'
  stats = decode.DecodeStats()
  with storage.open_media(uri) as reader:
    samples = list(decode.iter_samples(reader, 20_000, 21_000, 2.0, (64, 48),
                                       stats))
    consumed = reader.bytes_read
  assert [s.ts_ms for s in samples] == [20_000, 20_500]
  assert size > 5_000_000
  assert consumed < size * 0.15, (consumed, size)


class _FlakyFile(io.RawIOBase):
  """A real file whose reads fail while the shared budget of faults lasts."""

  def __init__(self, path, faults):
    super().__init__()
    self._file = open(path, 'rb')  # pylint: disable=consider-using-with
    self._faults = faults

  def read(self, size=-1):
    if self._faults and self._file.tell() > 0:
      self._faults.pop()
      raise ConnectionResetError('connection reset by peer')
    return self._file.read(size)

  def seek(self, offset, whence=io.SEEK_SET):
    return self._file.seek(offset, whence)

  def close(self):
    self._file.close()
    super().close()


def test_transient_storage_errors_are_retried_a_bounded_number_of_times(
    corpus):
  path = max(corpus.videos, key=os.path.getsize)
  clean = decode.sample_frames(path, 2.0, (32, 24))
  faults = [1, 1, 1]
  reader = storage.StorageReader(path, lambda p: _FlakyFile(p, faults),
                                 sleep=lambda s: None)
  flaky = list(decode.iter_samples(reader, 0, 20_000, 2.0, (32, 24)))
  assert reader.retries == 3 and not faults
  assert [s.ts_ms for s in flaky] == [s.ts_ms for s in clean]
  endless = storage.StorageReader(path, lambda p: _FlakyFile(p, [1] * 99),
                                  sleep=lambda s: None)
  endless.read(4096)
  with pytest.raises(media_errors.MediaError) as raised:
    endless.read(4096)
  assert raised.value.kind == media_errors.IO_ERROR
  assert endless.retries == storage.MAX_READ_ATTEMPTS - 1
