"""One golden output from every engine that runs here.

Each scan's clips and ledger, compared as sets (ignoring scan ids and
times), must equal the in-process DirectRunner's.  Flink cannot run here:
see README.md, "Runners".
"""
import os

import pytest

from tests import services
from tests.conftest import golden_rows
from tests.conftest import run_scan

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group('engines')]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRISM = os.environ.get('RESCAN_PRISM_BIN',
                       os.path.join(ROOT, '.cache', 'prism', 'prism'))


def _scan_on(corpus, model, output, *runner_flags):
  return run_scan(output, [os.path.join(corpus.root, '**')], model,
                  'engine', *runner_flags)


def test_direct_runner_multi_processing(corpus, marker_model_dir, golden_scan,
                                        tmp_path):
  scan = _scan_on(corpus, marker_model_dir, str(tmp_path),
                  '--direct_running_mode=multi_processing',
                  '--direct_num_workers=2')
  assert golden_rows(scan) == golden_rows(golden_scan)


def test_portable_runner_with_external_worker_pool(corpus, marker_model_dir,
                                                   golden_scan, tmp_path):
  with services.portable_job_service(str(tmp_path)) as endpoints:
    scan = _scan_on(corpus, marker_model_dir, str(tmp_path / 'out'),
                    '--runner=PortableRunner',
                    f"--job_endpoint={endpoints['job_endpoint']}",
                    '--job_server_timeout=600',
                    '--environment_type=EXTERNAL',
                    f"--environment_config={endpoints['environment_config']}")
  assert golden_rows(scan) == golden_rows(golden_scan)


@pytest.mark.skipif(not os.path.exists(PRISM) and not os.environ.get('CI'),
                    reason='Prism is built by `make test` (go install)')
def test_prism_runner_built_from_the_go_module_proxy(corpus, marker_model_dir,
                                                     golden_scan, tmp_path):
  assert os.path.exists(PRISM), f'{PRISM} was not built'
  scan = _scan_on(corpus, marker_model_dir, str(tmp_path),
                  '--runner=PrismRunner', f'--prism_location={PRISM}',
                  '--environment_type=LOOPBACK')
  assert golden_rows(scan) == golden_rows(golden_scan)
