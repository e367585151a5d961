"""Archive scale (issue #16, item 2): nothing in the launcher or one worker
grows with the archive.

    python -m benchmarks.archive_scale [--rows 100000] [--model DIR]

1. A CSV manifest of ``rows`` files that do not exist: every row becomes one
   ``not_found`` ledger row.  The scan runs as a child process (the same job
   ``rescan scan`` builds) on the DirectRunner, once in process (launcher,
   runner and SDK worker are one process) and once with
   ``--direct_running_mode=multi_processing`` (the SDK worker is a child
   process: its memory is the tree's minus the launcher's).  Reported: wall
   time, peak PSS of the launcher process and of the whole process tree,
   and that the ledger holds exactly ``rows`` rows.
2. An earlier ledger of ``rows`` ``scanned`` rows of the same files, made
   from the first ledger; a second scan with ``--skip-scanned`` joins the
   same manifest against it (``JoinPreviousScans``).  Reported: its wall
   time and peak memory (its rows are ``not_found`` again: the files still
   do not exist, so nothing is skipped, but every one is joined).

``python -m benchmarks.run`` runs it at ``--archive-rows`` (default 100,000)
and puts the figures in results.md; run this module alone for 1,000,000.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

import schemas
from benchmarks.measure import print_figure
from benchmarks.measure import run_child
from pipeline.inference import contract as model_contract
from pipeline.storage.parquet import read_partition

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, 'model', 'demo_model')
DEFAULT_ROWS = 100_000
MULTI_PROCESSING = ['--direct_running_mode=multi_processing',
                    '--direct_num_workers=1']


def write_manifest(folder: str, rows: int) -> str:
  """A manifest of ``rows`` files under ``folder/missing/`` that do not
  exist (each one a ``not_found`` ledger row)."""
  path = os.path.join(folder, 'manifest.csv')
  with open(path, 'w', encoding='utf-8') as f:
    f.write('uri,video_id\n')
    for i in range(rows):
      f.write(f'{folder}/missing/{i:08d}.mp4,v{i:08d}\n')
  return path


def _scan(manifest: str, output: str, model_dir: str, scan_id: str,
          extra: Sequence[str] = ()) -> Dict[str, object]:
  argv = [sys.executable, '-m', 'benchmarks.scan_job', '--input', manifest,
          '--output', output, '--model', model_dir, '--scan-id', scan_id,
          *extra]
  child = run_child(argv, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'),
                    timeout_s=4 * 3600)
  report = json.loads(child.stdout.strip().splitlines()[-1])
  rows = read_partition(output, 'videos', scan_id).num_rows
  return {'wall_s': report['wall_s'], 'process_wall_s': child.wall_s,
          'cpu_s': child.cpu_s,
          'launcher_peak_bytes': child.peak_root_memory_bytes,
          'tree_peak_bytes': child.peak_memory_bytes,
          'workers_peak_bytes': max(child.peak_memory_bytes -
                                    child.peak_root_memory_bytes, 0),
          'ledger_rows': rows}


def write_earlier_ledger(output: str, first_scan_id: str, scan_id: str,
                         model_version: str) -> int:
  """An earlier ledger under ``output`` in which every file of the first
  scan was ``scanned`` (fully covered) by ``model_version``, so that each
  one is a version ``--skip-scanned`` joins.  Returns its row count."""
  table = read_partition(output, 'videos', first_scan_id)
  n = table.num_rows
  when = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)

  def column(name: str, values):
    return table.set_column(table.schema.get_field_index(name), name,
                            pa.array(values, table.schema.field(name).type))

  table = column('status', [schemas.STATUS_SCANNED] * n)
  table = column('error_kind', [None] * n)
  table = column('error_message', [None] * n)
  table = column('model_version', [model_version] * n)
  table = column('scan_id', [scan_id] * n)
  table = column('size_bytes', [1000] * n)
  table = column('source_updated_at', [when] * n)
  table = column('samples_expected', [10] * n)
  table = column('coverage', [1.0] * n)
  folder = schemas.partition_dir(output, 'videos', scan_id)
  os.makedirs(folder)
  pq.write_table(table, os.path.join(folder, 'part-00000-of-00001.parquet'),
                 compression='zstd')
  return n


def archive_scale(rows: int, model_dir: str, log=print,
                  multi_processing: bool = True) -> Dict[str, object]:
  """Both measurements at ``rows`` manifest rows."""
  spec = model_contract.resolve_model(model_dir)
  figure: Dict[str, object] = {'rows': rows}
  with tempfile.TemporaryDirectory(prefix='rescan-archive-') as folder:
    manifest = write_manifest(folder, rows)
    runs: List[tuple] = [('in_process', [])]
    if multi_processing:
      runs.append(('multi_processing', MULTI_PROCESSING))
    for name, extra in runs:
      output = os.path.join(folder, f'out-{name}')
      run = _scan(manifest, output, model_dir, 'first', extra)
      log(f'    {rows:,} rows, {name}: {run["wall_s"]:.0f} s, launcher '
          f'{run["launcher_peak_bytes"] / 2**20:.0f} MiB, tree '
          f'{run["tree_peak_bytes"] / 2**20:.0f} MiB, '
          f'{run["ledger_rows"]:,} ledger rows')
      figure[name] = run
    output = os.path.join(folder, 'out-in_process')
    figure['earlier_rows'] = write_earlier_ledger(
        output, 'first', '20260101T000000Z-earlier', spec.version)
    run = _scan(manifest, output, model_dir, 'again', ['--skip-scanned'])
    log(f'    --skip-scanned against {figure["earlier_rows"]:,} earlier '
        f'rows: {run["wall_s"]:.0f} s, tree '
        f'{run["tree_peak_bytes"] / 2**20:.0f} MiB')
    figure['skip_scanned'] = run
  return figure


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.archive_scale')
  parser.add_argument('--rows', type=int, default=DEFAULT_ROWS)
  parser.add_argument('--model', default=DEFAULT_MODEL)
  parser.add_argument('--no-multi-processing', action='store_true')
  parser.add_argument('--json', default=None, metavar='PATH')
  args = parser.parse_args(argv)
  figure = archive_scale(args.rows, args.model,
                         multi_processing=not args.no_multi_processing)
  print_figure(figure, args.json)
  return 0


if __name__ == '__main__':
  sys.exit(main())
