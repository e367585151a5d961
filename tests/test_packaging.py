"""Workers install the scan and nothing else.

``pip install .`` (what a Dataflow worker runs, from ``--setup_file`` or
the image) brings ``install_requires`` only: these tests check that the
scan's own import closure needs nothing more, that the extras carry the
rest, and that test fixtures and test-only patches stay out of the
installed packages.  ``docs/architecture.md`` and ``tests/test_layout.py``
check the same boundary on our own imports.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import pathlib
import runpy
import subprocess
import sys
from typing import Dict, FrozenSet, Iterable, List, Set
from unittest import mock

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parent.parent

# What a worker imports: the scan's graph and entry points, and the match job.
SCAN_ENTRY_MODULES = (
    'pipeline.run',
    'pipeline.cli.scan',
    'pipeline.scan.job',
    'pipeline.hashes.match_job',
)
# Our top-level packages that a worker never needs.
NOT_ON_WORKERS = ('model', 'tests', 'benchmarks')
OURS = ('pipeline', 'schemas') + NOT_ON_WORKERS


@pytest.fixture(scope='module')
def setup_kwargs() -> Dict[str, object]:
  """The arguments ``setup.py`` hands to ``setuptools.setup``: the file
  itself is the source of truth, not the metadata of the last install."""
  with mock.patch('setuptools.setup') as setup:
    previous = os.getcwd()
    os.chdir(ROOT)  # find_packages() looks under the working directory
    try:
      runpy.run_path(str(ROOT / 'setup.py'), run_name='__main__')
    finally:
      os.chdir(previous)
  return setup.call_args.kwargs


def _extras_wanted(marker: Marker, extras: Iterable[str]) -> bool:
  return any(marker.evaluate({'extra': extra}) for extra in list(extras) or [''])


def requirement_closure(requirements: Iterable[str]) -> FrozenSet[str]:
  """The installed distributions ``requirements`` pull in, transitively,
  with their extras and environment markers as pip resolves them."""
  seen: Set[str] = set()
  pending = [Requirement(r) for r in requirements]
  while pending:
    requirement = pending.pop()
    name = canonicalize_name(requirement.name)
    try:
      distribution = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
      continue  # not for this platform, or not installed here
    key = (name, frozenset(requirement.extras))
    if key in seen:
      continue
    seen.add(key)
    for line in distribution.requires or ():
      dependency = Requirement(line)
      if dependency.marker is None or _extras_wanted(dependency.marker,
                                                     requirement.extras):
        pending.append(dependency)
  return frozenset(name for name, _ in seen)


def third_party_tops(modules: Iterable[str]) -> Set[str]:
  tops = {m.split('.')[0] for m in modules}
  return {t for t in tops
          if t not in sys.stdlib_module_names
          and t not in sys.builtin_module_names
          and not t.startswith('_')  # extension internals, e.g. _cffi_backend
          and t not in OURS}


@pytest.fixture(scope='module')
def base_closure(setup_kwargs) -> FrozenSet[str]:
  """The distributions a plain ``pip install .`` brings."""
  return requirement_closure(setup_kwargs['install_requires'])


@pytest.fixture(scope='module')
def not_on_a_worker(base_closure) -> FrozenSet[str]:
  """Top-level modules a worker does not have: ours that do not ship to it,
  and every installed module no distribution of the base install provides
  (the extras' and the test tools', and whatever else this venv holds)."""
  ours = set(OURS) | {'setup'}
  missing = set(NOT_ON_WORKERS)
  for top, dists in importlib.metadata.packages_distributions().items():
    if (top not in ours and top not in sys.stdlib_module_names
        and not {canonicalize_name(d) for d in dists} & base_closure):
      missing.add(top)
  return frozenset(missing)


# Runs in a fresh interpreter: the scan's modules imported as on a worker,
# where what ``pip install .`` does not bring cannot be imported at all (an
# optional import then falls back, as it would there).
_WORKER_IMPORTS = """
import importlib
import importlib.abc
import json
import sys

ABSENT = frozenset(json.loads(sys.argv[1]))


class NotOnAWorker(importlib.abc.MetaPathFinder):

  def find_spec(self, name, path=None, target=None):
    if name.split('.')[0] in ABSENT:
      raise ModuleNotFoundError(f'No module named {name!r} on a worker',
                                name=name)
    return None


sys.meta_path.insert(0, NotOnAWorker())
for module in json.loads(sys.argv[2]):
  importlib.import_module(module)
print(json.dumps(sorted(
    name for name, module in sys.modules.items()
    if getattr(module, '__file__', None) or getattr(module, '__path__', None))))
"""


@pytest.fixture(scope='module')
def worker_imports(not_on_a_worker) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, '-c', _WORKER_IMPORTS,
       json.dumps(sorted(not_on_a_worker)), json.dumps(SCAN_ENTRY_MODULES)],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def _loaded(worker_imports: subprocess.CompletedProcess) -> List[str]:
  assert worker_imports.returncode == 0, (
      'the scan does not import with only `pip install .`:\n'
      + worker_imports.stderr[-3000:])
  return json.loads(worker_imports.stdout.strip().splitlines()[-1])


def test_the_scan_imports_with_only_the_base_install(worker_imports):
  _loaded(worker_imports)


def test_the_scan_imports_none_of_our_tools_fixtures_or_harnesses(
    worker_imports):
  loaded = _loaded(worker_imports)
  tops = {m.split('.')[0] for m in loaded}
  assert not tops & set(NOT_ON_WORKERS), sorted(tops & set(NOT_ON_WORKERS))
  assert not [m for m in loaded
              if m.startswith(('pipeline.review', 'pipeline.fault_injection'))]


def test_install_requires_provides_every_module_the_scan_loads(
    worker_imports, base_closure):
  providers = importlib.metadata.packages_distributions()
  unprovided = {
      top: providers.get(top)
      for top in third_party_tops(_loaded(worker_imports))
      if not {canonicalize_name(d) for d in providers.get(top, ())}
      & base_closure}
  assert not unprovided, unprovided


def test_extras_split_the_tools_from_the_scan(setup_kwargs, base_closure):
  base = {Requirement(r).name for r in setup_kwargs['install_requires']}
  extras = {name: {Requirement(r).name for r in requirements}
            for name, requirements in setup_kwargs['extras_require'].items()}
  assert set(extras) == {'review', 'train', 'test'}
  assert 'duckdb' in extras['review'] and 'matplotlib' in extras['train']
  assert extras['review'] | extras['train'] <= extras['test']
  assert not base & set().union(*extras.values())
  only_extras = requirement_closure(
      r for requirements in setup_kwargs['extras_require'].values()
      for r in requirements) - base_closure
  assert {'duckdb', 'matplotlib', 'pytest', 'hypothesis', 'selenium'} <= (
      only_extras)


def test_only_the_scan_and_the_toolkit_ship(setup_kwargs):
  packages = set(setup_kwargs['packages'])
  assert {'pipeline', 'pipeline.scan', 'schemas', 'model'} <= packages
  assert not {p for p in packages
              if p.split('.')[0] not in ('pipeline', 'schemas', 'model')}


def _shipped_files(packages: Iterable[str]) -> List[pathlib.Path]:
  return sorted(path for package in packages
                for path in (ROOT / package.replace('.', '/')).glob('*.py'))


def test_test_fixtures_and_emulator_patches_do_not_ship(setup_kwargs):
  """The marker model, the hostile media writers and the GCS emulator's
  credential patch are test code: the tests inject them."""
  shipped = _shipped_files(setup_kwargs['packages'])
  names = {path.stem for path in shipped}
  assert not names & {'marker_model', 'broken_media', 'fault_injection'}
  for path in shipped:
    tree = ast.parse(path.read_text(encoding='utf-8'))
    imported = {alias.name for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or '' for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    private_beam = {m for m in imported if m.startswith('apache_beam.internal')}
    assert not private_beam, f'{path.relative_to(ROOT)}: {private_beam}'
    assert 'STORAGE_EMULATOR_HOST' not in path.read_text(encoding='utf-8'), (
        f'{path.relative_to(ROOT)}: emulator set-up belongs in tests/')
