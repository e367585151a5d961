"""``rescan demo``: generate a sample archive, scan it with the demo model
and check the clips against the planted truth."""
from __future__ import annotations

import datetime
import os
import shlex
import sys
from typing import List, Optional, Sequence

from model import demo_archive
from pipeline.cli import common
from pipeline.storage import parquet as parquet_output
from pipeline.runtime import usage
from pipeline.storage import scan_ids
from schemas import tables

def scan_command(scan_args: Sequence[str]) -> str:
  """The scan as a shell line, quoted: an operator who pastes it must pass
  the pattern to the scan unexpanded (unquoted, the shell expanded
  ``uploads/**`` and the scan saw one file)."""
  return shlex.join(['rescan', 'scan', *scan_args])


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = usage.OneLineArgumentParser(
      prog='rescan demo',
      description='Generate a sample archive of real encoded first-person '
      'videos with a pistol planted at known times, plus broken files, scan '
      'it on the DirectRunner with the shipped demo model (trained on '
      'synthetic footage only: a DEMO, not a real detector) and compare the '
      'clips it flags with what was planted. Beam\'s own flags (--runner, '
      '...) go to the scan; any other flag is an error.')
  parser.add_argument('--workdir', default='demo_output',
                      help='where the archive and results go '
                      '(default %(default)s)')
  parser.add_argument('--scan-id', '--scan_id', default=None,
                      help='the scan partition to write (default: UTC time '
                      '+ random suffix)')
  known, beam_args = parser.parse_known_args(
      list(sys.argv[1:] if argv is None else argv))
  demo = demo_archive.build_demo(known.workdir)
  print(f'demo archive: {demo.archive_dir} ({demo.video_count} files, '
        f'manifest {demo.manifest})')
  print(f'demo model:   {demo.model_dir}\n'
        f'              {demo.model_note}')
  print(f'demo audio model: {demo.audio_model_dir}\n'
        f'              {demo.audio_model_note}')
  scan_id = known.scan_id or scan_ids.new_scan_id(
      datetime.datetime.now(datetime.timezone.utc))
  scan_args: List[str] = [
      '--input', demo.pattern, '--input', demo.manifest,
      '--output', demo.results_dir, '--model', demo.model_dir,
      '--segment-seconds', str(demo_archive.SEGMENT_SECONDS),
      '--audio-model', demo.audio_model_dir,
      '--scan-id', scan_id, *beam_args]
  print('running: ' + scan_command(scan_args))
  status = common.run_scan(scan_args)
  if status:
    return status
  clips = parquet_output.read_partition(demo.results_dir, 'flagged_clips',
                                        scan_id).to_pylist()
  root = os.path.dirname(demo.archive_dir)
  check = demo_archive.check_clips(demo.planted,
                                   demo_archive.found_clips(clips))
  print(demo_archive.format_check(check, root))
  audio_check = demo_archive.check_audio_clips(
      demo.planted_audio,
      demo_archive.found_clips(clips, tables.MODALITY_AUDIO))
  print(demo_archive.format_audio_check(audio_check, root))
  return 0
