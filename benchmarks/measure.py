"""Timing, CPU and memory measurements for the benchmark harness.

Every figure is measured ``repeats`` times and reported as min, median and
max.  Child processes (the scan, the ffmpeg CLI) are measured from outside:
wall time, CPU time of the process and every descendant it waited for
(``os.wait4``), and the peak memory of the whole process tree, polled from ``/proc`` as
the sum of the processes' proportional set sizes (a decode subprocess or a
multi-processing worker counts; pages they share are counted once).
"""
from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, TypeVar

T = TypeVar('T')
_MEMORY_POLL_SECONDS = 0.1


@dataclasses.dataclass(frozen=True)
class Spread:
  """Min, median and max of repeated measurements."""
  min: float
  median: float
  max: float

  @classmethod
  def of(cls, values: Sequence[float]) -> 'Spread':
    return cls(min(values), statistics.median(values), max(values))

  def scaled(self, factor: float) -> 'Spread':
    return Spread(self.min * factor, self.median * factor, self.max * factor)

  def as_dict(self) -> Dict[str, float]:
    return dataclasses.asdict(self)


def total_of(a: Spread, b: Spread) -> Spread:
  """Spread of the time of two steps done one after the other."""
  return Spread(a.min + b.min, a.median + b.median, a.max + b.max)


def ratio(numerator: Spread, denominator: Spread) -> Spread:
  """Spread of a ratio of two spreads measured side by side: the median
  over the medians, the bounds from the worst and best pairings."""
  return Spread(numerator.min / denominator.max,
                numerator.median / denominator.median,
                numerator.max / denominator.min)


@dataclasses.dataclass(frozen=True)
class Timed:
  """One in-process measurement: wall and CPU seconds, and the result."""
  wall_s: float
  cpu_s: float
  result: object


def timed(fn: Callable[[], T]) -> Timed:
  """Runs ``fn`` once; CPU time counts every thread of this process."""
  wall, cpu = time.perf_counter(), time.process_time()
  result = fn()
  return Timed(time.perf_counter() - wall, time.process_time() - cpu, result)


@dataclasses.dataclass(frozen=True)
class ChildRun:
  """One child process run to completion."""
  wall_s: float
  cpu_s: float
  peak_memory_bytes: int
  returncode: int
  stdout: str
  stderr: str
  # The child process alone (PSS), without its descendants.
  peak_root_memory_bytes: int = 0


def _children_of() -> Dict[int, List[int]]:
  children: Dict[int, List[int]] = {}
  for name in os.listdir('/proc'):
    if not name.isdigit():
      continue
    try:
      with open(f'/proc/{name}/stat', encoding='ascii', errors='replace') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
      continue
    children.setdefault(int(fields[1]), []).append(int(name))
  return children


def _pss_bytes(pid: int) -> int:
  """Proportional set size: resident memory with each shared page split
  among the processes that share it (a forked child shares its parent's
  pages, which a sum of RSS would count twice)."""
  with open(f'/proc/{pid}/smaps_rollup', encoding='ascii') as f:
    for line in f:
      if line.startswith('Pss:'):
        return int(line.split()[1]) * 1024
  return 0


def tree_memory_bytes(root: int) -> int:
  """Memory of ``root`` and all its descendants now (sum of their PSS)."""
  children = _children_of()
  total, todo = 0, [root]
  while todo:
    pid = todo.pop()
    todo.extend(children.get(pid, ()))
    try:
      total += _pss_bytes(pid)
    except (OSError, IndexError, ValueError):
      continue
  return total


def run_child(argv: Sequence[str], env: Optional[Dict[str, str]] = None,
              timeout_s: float = 3600.0) -> ChildRun:
  """Runs ``argv`` and measures it; raises if it fails or overruns."""
  started = time.perf_counter()
  with open(os.devnull, 'rb') as stdin:
    process = subprocess.Popen(list(argv), stdin=stdin, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, text=True)
  peak, peak_root = [0], [0]
  done = threading.Event()

  def poll() -> None:
    while not done.is_set():
      peak[0] = max(peak[0], tree_memory_bytes(process.pid))
      try:
        peak_root[0] = max(peak_root[0], _pss_bytes(process.pid))
      except (OSError, IndexError, ValueError):
        pass
      done.wait(_MEMORY_POLL_SECONDS)

  poller = threading.Thread(target=poll, daemon=True)
  poller.start()
  output: Dict[str, str] = {}
  readers = [threading.Thread(target=lambda n=n, s=s: output.__setitem__(
      n, s.read()), daemon=True) for n, s in (('out', process.stdout),
                                              ('err', process.stderr))]
  for reader in readers:
    reader.start()
  deadline = started + timeout_s
  while True:
    pid, status, usage = os.wait4(process.pid, os.WNOHANG)
    if pid:
      break
    if time.perf_counter() > deadline:
      process.kill()
      raise TimeoutError(f'{argv[:3]} ran over {timeout_s} s')
    time.sleep(0.05)
  wall = time.perf_counter() - started
  done.set()
  poller.join()
  for reader in readers:
    reader.join()
  process.returncode = os.waitstatus_to_exitcode(status)
  run = ChildRun(wall, usage.ru_utime + usage.ru_stime, peak[0],
                 process.returncode, output.get('out', ''),
                 output.get('err', ''), peak_root[0])
  if run.returncode != 0:
    raise RuntimeError(f'{" ".join(argv[:4])} ... exited {run.returncode}: '
                       f'{run.stderr[-2000:]}')
  return run


def print_figure(figure: Dict, json_path: Optional[str] = None) -> None:
  """A benchmark's figure printed as JSON (and written to ``json_path``):
  what each benchmark's ``main`` ends with."""
  text = json.dumps(figure, indent=2)
  if json_path:
    with open(json_path, 'w', encoding='utf-8') as f:
      f.write(text)
  print(text)
