"""One scan, run as the benchmark's child process, reporting its metrics.

    python -m benchmarks.scan_job SCAN FLAGS...

Builds and runs the scan exactly as ``rescan scan`` does and prints one JSON
line: the wall time of the run (from submitting the pipeline to its end),
and the Beam metrics the figures need: RunInference's inference count and
batch latencies, and the frames sampled.  The parent measures CPU time and
memory from outside.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Dict, Optional, Sequence

from pipeline.inference import contract as model_contract
from pipeline.runtime import runners
from pipeline.scan.options import parse_scan_args
from pipeline.scan.job import build_pipeline
from pipeline.runtime.private import private_files


def metric_values(result) -> Dict[str, Dict[str, float]]:
  """Counters as ``{name: {'sum': v}}``, distributions with sum and count,
  summed over steps, by metric name."""
  query = result.metrics().query()
  values: Dict[str, Dict[str, float]] = {}
  for counter in query['counters']:
    entry = values.setdefault(counter.key.metric.name, {'sum': 0.0})
    entry['sum'] += counter.committed or 0
  for dist in query['distributions']:
    entry = values.setdefault(dist.key.metric.name, {'sum': 0.0, 'count': 0})
    committed = dist.committed
    if committed is not None:
      entry['sum'] += committed.sum
      entry['count'] = entry.get('count', 0) + committed.count
  return values


def run_scan(argv: Sequence[str]) -> Dict[str, object]:
  config = parse_scan_args(list(argv))
  spec = model_contract.resolve_model(config.model)
  pipeline = runners.create_pipeline(config.beam_args)
  build_pipeline(pipeline, config, spec)
  with private_files():
    started = time.perf_counter()
    result = pipeline.run()
    result.wait_until_finish()
    wall_s = time.perf_counter() - started
  return {'wall_s': wall_s, 'metrics': metric_values(result),
          'scan_id': config.scan_id}


def main(argv: Optional[Sequence[str]] = None) -> int:
  logging.getLogger().setLevel(logging.ERROR)
  print(json.dumps(run_scan(sys.argv[1:] if argv is None else argv)))
  return 0


if __name__ == '__main__':
  sys.exit(main())
