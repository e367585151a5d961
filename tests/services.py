"""Real local services the tests start and stop: a GCS emulator process and
a Beam job service with an external Python worker pool."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from typing import Iterator, List


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float,
                  what: str) -> None:
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    if process.poll() is not None:
      raise RuntimeError(f'{what} exited with {process.returncode}')
    with socket.socket() as s:
      if s.connect_ex(('127.0.0.1', port)) == 0:
        return
    time.sleep(0.2)
  raise TimeoutError(f'{what} did not listen on port {port} in {timeout_s} s')


@contextlib.contextmanager
def background_process(argv: List[str], port: int, what: str,
                       log_path: str, timeout_s: float = 60.0,
                       env=None) -> Iterator[subprocess.Popen]:
  """Starts a server process, waits for its port, and stops it afterwards."""
  with open(log_path, 'wb') as log:
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT,
                               env=env or os.environ.copy(),
                               start_new_session=True)
    try:
      wait_for_port(port, process, timeout_s, what)
      yield process
    finally:
      process.terminate()
      try:
        process.wait(timeout=20)
      except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def gcs_emulator(log_dir: str) -> Iterator[str]:
  """A ``gcp-storage-emulator`` process; yields its ``http://host:port``."""
  port = free_port()
  argv = [sys.executable, '-m', 'gcp_storage_emulator', 'start',
          '--host', '127.0.0.1', '--port', str(port), '--in-memory']
  with background_process(argv, port, 'GCS emulator',
                          os.path.join(log_dir, 'gcs-emulator.log')):
    yield f'http://127.0.0.1:{port}'


@contextlib.contextmanager
def anonymous_beam_gcs() -> Iterator[None]:
  """Beam's GCS client connects anonymously in this process, for talking to
  a local GCS emulator: Beam's credential lookup would otherwise retry for
  about 20 s before it gives up and connects anonymously anyway.

  It patches a private Beam attribute, so it lives here, in the tests, and
  never in the package; the previous state comes back afterwards.  Only
  this process is patched: a subprocess that talks to the emulator must
  apply it itself."""
  from apache_beam.internal.gcp import auth  # pylint: disable=import-outside-toplevel
  # pylint: disable=protected-access
  credentials = auth._Credentials
  with credentials._credentials_lock:
    saved = (credentials._credentials_init, credentials._credentials)
    credentials._credentials_init = True
    credentials._credentials = None
  try:
    yield
  finally:
    with credentials._credentials_lock:
      credentials._credentials_init, credentials._credentials = saved


@contextlib.contextmanager
def portable_job_service(log_dir: str) -> Iterator[dict]:
  """Beam's local job service plus an EXTERNAL Python worker pool, each in
  its own process; yields the pipeline flags that target them."""
  job_port, pool_port = free_port(), free_port()
  job = [sys.executable, '-m',
         'apache_beam.runners.portability.local_job_service_main',
         '--port', str(job_port)]
  pool = [sys.executable, '-m', 'apache_beam.runners.worker.worker_pool_main',
          f'--service_port={pool_port}']
  # The pool starts SDK workers as plain `python`: make that this
  # interpreter, even when its virtualenv is not activated (as under make).
  env = dict(os.environ, PATH=os.pathsep.join(
      [os.path.dirname(sys.executable), os.environ.get('PATH', '')]))
  with background_process(pool, pool_port, 'worker pool',
                          os.path.join(log_dir, 'worker-pool.log'),
                          env=env), \
      background_process(job, job_port, 'job service',
                         os.path.join(log_dir, 'job-service.log')):
    yield {'job_endpoint': f'localhost:{job_port}',
           'environment_config': f'localhost:{pool_port}'}
