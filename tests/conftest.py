"""Shared fixtures: a corpus of real encoded videos with planted ground truth,
broken uploads, the contract-obeying marker model, and a scan runner."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Dict, List, Sequence, Tuple

import pyarrow as pa
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('SVT_LOG', '1')

from model.synthetic_video import PlantedEvent  # pylint: disable=wrong-import-position
from model.synthetic_video import variable_frame_times  # pylint: disable=wrong-import-position
from model.synthetic_video import write_video  # pylint: disable=wrong-import-position
from pipeline.storage.parquet import read_partition  # pylint: disable=wrong-import-position
from tests import services  # pylint: disable=wrong-import-position
from tests.fixtures import broken_media  # pylint: disable=wrong-import-position
from tests.fixtures import marker_model  # pylint: disable=wrong-import-position

FPS = 2.0
SEGMENT_SECONDS = 5.0
# Clip start and end must lie within one sample interval + 0.5 s of the truth.
TOLERANCE_S = 1.0 / FPS + 0.5
LABELS = ('red_marker', 'green_marker')


@dataclasses.dataclass(frozen=True)
class CorpusVideo:
  name: str
  codec: str
  seconds: float
  events: Tuple[PlantedEvent, ...] = ()
  variable_frame_rate: bool = False


CORPUS: Tuple[CorpusVideo, ...] = (
    CorpusVideo('h264 with spaces.mp4', 'h264', 20.0,
                (PlantedEvent('red_marker', 6.0, 9.5),)),
    CorpusVideo('vp9_two_labels.webm', 'vp9', 16.0,
                (PlantedEvent('green_marker', 2.0, 5.0),
                 PlantedEvent('red_marker', 11.0, 13.0))),
    CorpusVideo('hevc_clip.mkv', 'hevc', 16.0,
                (PlantedEvent('red_marker', 8.0, 12.0),)),
    CorpusVideo('av1_clip.mp4', 'av1', 12.0,
                (PlantedEvent('red_marker', 2.0, 4.0),)),
    CorpusVideo('mpeg4_clip.avi', 'mpeg4', 12.0,
                (PlantedEvent('red_marker', 7.0, 9.0),)),
    CorpusVideo('vfr_phone.mp4', 'h264', 16.0,
                (PlantedEvent('red_marker', 4.0, 7.0),), True),
    # Crosses the 5-s and 10-s segment boundaries: must stay one clip.
    CorpusVideo('boundary_crossing.mp4', 'h264', 18.0,
                (PlantedEvent('red_marker', 3.5, 11.5),)),
    CorpusVideo('négatif ünïcode «clean».mp4', 'h264', 10.0),
    CorpusVideo('clean_vp9.webm', 'vp9', 8.0),
)

BROKEN_KINDS = {
    'empty': 'empty_file',
    'random': 'invalid_container',
    'text': 'invalid_container',
    'audio_only': 'no_video_stream',
    'truncated': 'invalid_container',
}


@dataclasses.dataclass(frozen=True)
class Corpus:
  root: str
  videos: Dict[str, CorpusVideo]   # path -> planted truth
  broken: Dict[str, str]           # path -> expected error_kind

  @property
  def all_paths(self) -> List[str]:
    return sorted(list(self.videos) + list(self.broken))


def write_corpus_video(folder: str, video: CorpusVideo, seed: int) -> str:
  times = variable_frame_times(video.seconds, seed=seed) \
      if video.variable_frame_rate else None
  return write_video(os.path.join(folder, video.name), video.seconds,
                     video.codec, fps=10.0, size=(160, 120),
                     events=video.events, seed=seed, frame_times_s=times)


@pytest.fixture(scope='session')
def corpus(tmp_path_factory) -> Corpus:
  root = str(tmp_path_factory.mktemp('corpus') / 'archive')
  os.makedirs(root)
  videos = {}
  for seed, video in enumerate(CORPUS):
    videos[write_corpus_video(root, video, seed)] = video
  reference = next(p for p, v in videos.items() if v.codec == 'h264')
  broken = {path: BROKEN_KINDS[kind] for kind, path in
            broken_media.write_broken_set(os.path.join(root, 'broken'),
                                          reference).items()}
  return Corpus(root, videos, broken)


@pytest.fixture(scope='session')
def marker_model_dir(tmp_path_factory) -> str:
  return marker_model.export_marker_model(
      str(tmp_path_factory.mktemp('models') / 'marker'), labels=LABELS,
      fps=FPS)


@dataclasses.dataclass(frozen=True)
class ScanOutput:
  root: str
  scan_id: str
  clips: pa.Table
  videos: pa.Table


def run_scan(output: str, inputs: Sequence[str], model_dir: str,
             scan_id: str, *extra: str) -> ScanOutput:
  """Runs a whole scan in process on the local runner and reads it back."""
  from pipeline.scan.job import run  # pylint: disable=import-outside-toplevel
  argv = ['--output', output, '--model', model_dir, '--scan-id', scan_id,
          '--segment-seconds', str(SEGMENT_SECONDS)]
  for spec in inputs:
    argv += ['--input', spec]
  run(argv + list(extra))
  return ScanOutput(output, scan_id,
                    read_partition(output, 'flagged_clips', scan_id),
                    read_partition(output, 'videos', scan_id))


@pytest.fixture(scope='session')
def golden_scan(corpus, marker_model_dir, tmp_path_factory) -> ScanOutput:
  """The whole corpus scanned once on the DirectRunner."""
  output = str(tmp_path_factory.mktemp('results'))
  return run_scan(output, [os.path.join(corpus.root, '**')],
                  marker_model_dir, 'golden')


def rescan_one_line(capsys, *argv) -> Tuple[int, str]:
  """``rescan ARGV`` in this process: its exit code and the one line it
  wrote on stderr (asserted: exactly one line, no traceback)."""
  from pipeline.cli import main as cli_main  # pylint: disable=import-outside-toplevel
  capsys.readouterr()
  try:
    code = cli_main.main(list(argv))
  except SystemExit as exc:
    code = exc.code
  err = capsys.readouterr().err
  assert 'Traceback' not in err
  lines = [line for line in err.splitlines() if line.strip()]
  assert len(lines) == 1, err
  return code, lines[0]


def dead_pid() -> int:
  """The id of a process of this host that has ended (a killed launcher,
  as a scan's claim would name it)."""
  child = subprocess.Popen([sys.executable, '-c', 'pass'])  # pylint: disable=consider-using-with
  child.wait()
  return child.pid


def relative_name(uri: str) -> str:
  """A corpus file's name relative to its archive root, on any filesystem."""
  marker = '/archive'
  tail = uri[uri.index(marker) + len(marker):] if marker in uri else uri
  return tail.split('/', 1)[1] if tail.startswith('/') or '/' in tail else tail


def golden_rows(scan: ScanOutput):
  """Clips and ledger as sets, ignoring scan ids, times and URI prefixes."""
  clips = {(relative_name(c['video_uri']), c['label'], c['start_ms'],
            c['end_ms'], c['peak_ms'], round(c['peak_score'], 4), c['frames'])
           for c in scan.clips.to_pylist()}
  ledger = {(relative_name(v['video_uri']), v['status'], v['error_kind'],
             v['frames_scored'], v['clips'], v['segments'])
            for v in scan.videos.to_pylist()}
  return clips, ledger


@pytest.fixture(scope='session')
def emulator(tmp_path_factory, corpus):
  """A GCS emulator process holding the corpus under gs://uploads/archive/,
  with empty buckets gs://results and gs://dataflow-temp."""
  logs = str(tmp_path_factory.mktemp('gcs-logs'))
  with services.gcs_emulator(logs) as host, services.anonymous_beam_gcs():
    previous = os.environ.get('STORAGE_EMULATOR_HOST')
    os.environ['STORAGE_EMULATOR_HOST'] = host
    client = gcs.Client(project='test', credentials=AnonymousCredentials())
    bucket = client.create_bucket('uploads')
    for name in ('results', 'dataflow-temp'):
      client.create_bucket(name)
    for path in corpus.all_paths:
      name = 'archive/' + os.path.relpath(path, corpus.root)
      bucket.blob(name).upload_from_filename(path)
    try:
      yield client
    finally:
      if previous is None:
        os.environ.pop('STORAGE_EMULATOR_HOST', None)
      else:
        os.environ['STORAGE_EMULATOR_HOST'] = previous
