"""The ``rescan`` command.

    rescan scan  --input PATTERN|MANIFEST --output ROOT --model DIR [...]
    rescan demo  [--workdir DIR] [BEAM FLAGS]

``scan`` is the pipeline itself (also ``python -m pipeline.run``).  Commands
that need the model toolkit import ``model/`` lazily, here and nowhere else
in the scanning code.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import List, Optional, Sequence

from pipeline import process_exit

# Quiet TensorFlow's C++ start-up chatter before anything imports it.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('SVT_LOG', '1')

USAGE = """usage: rescan COMMAND [ARGS]

commands:
  scan      re-scan stored videos with a model; writes Parquet
  demo      generate a small sample archive and scan it on the DirectRunner
  review    query clips, a video's timeline, stats and precision (table/json/csv)
  extract   cut selected clips, with context, into small MP4s
  report    the review page: static HTML, or a local app that records verdicts
  bank      import known-content hash lists into a hash bank
  match     match stored frame hashes against hash banks (no decoding)
  train     train a classifier from labelled footage (model toolkit)
  evaluate  evaluate a model, pick its threshold, write metrics (model toolkit)

Run 'rescan COMMAND --help' for a command's flags.
"""


def _demo(argv: Sequence[str]) -> int:
  parser = argparse.ArgumentParser(
      prog='rescan demo',
      description='Generate a sample archive of real encoded first-person '
      'videos with a pistol planted at known times, plus broken files, scan '
      'it on the DirectRunner with the shipped demo model (trained on '
      'synthetic footage only: a DEMO, not a real detector) and compare the '
      'clips it flags with what was planted. Unknown flags go to Beam.')
  parser.add_argument('--workdir', default='demo_output',
                      help='where the archive and results go '
                      '(default %(default)s)')
  parser.add_argument('--scan-id', '--scan_id', default=None,
                      help='the scan partition to write (default: UTC time '
                      '+ random suffix)')
  known, beam_args = parser.parse_known_args(list(argv))
  # pylint: disable=import-outside-toplevel
  import datetime

  from model import demo_archive
  from pipeline import options
  from pipeline import parquet_output
  from pipeline import run
  # pylint: enable=import-outside-toplevel
  demo = demo_archive.build_demo(known.workdir)
  print(f'demo archive: {demo.archive_dir} ({demo.video_count} files, '
        f'manifest {demo.manifest})')
  print(f'demo model:   {demo.model_dir}\n'
        f'              {demo.model_note}')
  scan_id = known.scan_id or options.new_scan_id(
      datetime.datetime.now(datetime.timezone.utc))
  scan_args: List[str] = [
      '--input', demo.pattern, '--input', demo.manifest,
      '--output', demo.results_dir, '--model', demo.model_dir,
      '--segment-seconds', str(demo_archive.SEGMENT_SECONDS),
      '--scan-id', scan_id, *beam_args]
  print('running: rescan scan ' + ' '.join(scan_args))
  status = run.main(scan_args)
  if status:
    return status
  clips = parquet_output.read_partition(demo.results_dir, 'flagged_clips',
                                        scan_id).to_pylist()
  check = demo_archive.check_clips(demo.planted,
                                   demo_archive.found_clips(clips))
  print(demo_archive.format_check(check, os.path.dirname(demo.archive_dir)))
  return 0


# Each command's module, whose ``main(argv) -> int`` runs it.  The model
# toolkit's modules are imported here only, lazily.
COMMANDS = {
    'scan': 'pipeline.run',
    'review': 'pipeline.review_cli',
    'extract': 'pipeline.clip_extract',
    'report': 'pipeline.review_report',
    'bank': 'pipeline.hash_banks',
    'match': 'pipeline.match_job',
    'train': 'model.train',
    'evaluate': 'model.evaluate',
}


def main(argv: Optional[Sequence[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] in ('-h', '--help', 'help'):
    print(USAGE)
    return 0 if argv else 2
  command, rest = argv[0], argv[1:]
  if command == 'demo':
    return _demo(rest)
  if command in COMMANDS:
    return importlib.import_module(COMMANDS[command]).main(rest)
  print(f'rescan: unknown command {command!r}\n\n{USAGE}', file=sys.stderr)
  return 2


def console_main() -> None:
  """The ``rescan`` console script (see ``process_exit``)."""
  process_exit.exit_now(main())


if __name__ == '__main__':
  console_main()
