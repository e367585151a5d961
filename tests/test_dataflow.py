"""What can be checked of the Dataflow launch path without Google Cloud."""
import json
import os
import re

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner

from pipeline.scan import flex_template
from pipeline.inference import handler as inference
from pipeline.inference import contract as model_contract
from pipeline.runtime import runners
from pipeline.scan.options import flex_template_parameter_names
from pipeline.scan.options import parse_scan_args
from pipeline.scan.job import build_pipeline

pytestmark = pytest.mark.xdist_group('gcs')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCELERATOR = 'type:nvidia-l4;count:1;install-nvidia-driver'
DATAFLOW_ARGS = ['--runner', 'DataflowRunner', '--project', 'my-project',
                 '--region', 'us-central1',
                 '--temp_location', 'gs://dataflow-temp/tmp',
                 '--dataflow_service_options', 'use_nvidia_mps']


def _dataflow_config(corpus, model_dir):
  return parse_scan_args([
      '--input', os.path.join(corpus.root, '*.mp4'),
      '--output', 'gs://results/dataflow', '--model', model_dir,
      '--inference-accelerator', ACCELERATOR, *DATAFLOW_ARGS])


def test_graph_builds_and_validates_for_dataflow_with_gpu_only_on_inference(
    corpus, marker_model_dir, emulator):
  # The validator inspects the temp bucket: the GCS emulator serves it.
  config = _dataflow_config(corpus, marker_model_dir)
  assert config.require_gpu
  options = PipelineOptions(runners.with_staging(config.beam_args))
  assert PipelineOptionsValidator(options, DataflowRunner()).validate() == []
  p = beam.Pipeline(runner=DataflowRunner(), options=options)
  build_pipeline(p, config, model_contract.resolve_model(marker_model_dir))
  proto = p.to_runner_api()
  environments = proto.components.environments
  hinted = {name for name, t in proto.components.transforms.items()
            if t.environment_id and environments[t.environment_id].resource_hints
            and any(b'nvidia-l4' in v for v in
                    environments[t.environment_id].resource_hints.values())}
  labels = {proto.components.transforms[n].unique_name for n in hinted}
  assert any(label.startswith('ScanVideos/ScoreFrames') for label in labels)
  assert not any('DecodeSegments' in l or 'ProbeVideos' in l for l in labels)


def test_dataflow_jobs_stage_setup_py_unless_an_image_brings_the_code():
  args = runners.with_staging(DATAFLOW_ARGS)
  assert f'--setup_file={os.path.join(ROOT, "setup.py")}' in args
  image = DATAFLOW_ARGS + ['--sdk_container_image', 'us-docker.pkg.dev/x/y']
  assert runners.with_staging(image) == image


def test_worker_fails_fast_when_a_gpu_was_requested_but_none_is_seen(
    marker_model_dir):
  spec = model_contract.resolve_model(marker_model_dir)
  handler = inference.SavedModelHandler(spec, require_gpu=True)
  with pytest.raises(inference.GpuUnavailableError,
                     match='TensorFlow sees none'):
    handler.load_model()
  assert inference.SavedModelHandler(spec).load_model() is not None


def test_metadata_json_matches_the_real_pipeline_options():
  with open(os.path.join(ROOT, 'dataflow', 'metadata.json'),
            encoding='utf-8') as f:
    committed = f.read()
  assert committed == flex_template.render(), (
      'regenerate: python -m pipeline.scan.flex_template > dataflow/metadata.json')
  parameters = json.loads(committed)['parameters']
  assert [p['name'] for p in parameters] == list(
      flex_template_parameter_names())
  required = {p['name'] for p in parameters if not p['isOptional']}
  # --model and --audio-model: at least one, checked when parsed.
  assert required == {'input', 'output'}
  by_name = {p['name']: p for p in parameters}
  assert by_name['model']['regexes'] == by_name['audio_model']['regexes']
  assert all(flex_template.is_valid_parameter_name(p['name'])
             for p in parameters)
  assert all(p['helpText'] and '%(' not in p['helpText'] for p in parameters)
  # Every parameter is accepted by the scan under its template spelling.
  argv = [f"--{p['name']}=1" for p in parameters
          if p['name'] not in ('inference_accelerator', 'require_gpu',
                               'scan_id', 'hashes', 'decode_isolation',
                               'sampling', 'hash_fidelity')]
  config = parse_scan_args(argv + ['--require_gpu=false', '--scan_id=x',
                                   '--hashes=false',
                                   '--decode_isolation=inline',
                                   '--sampling=fast',
                                   '--hash_fidelity=approximate'])
  assert not config.hashes and config.banks == ('1',)
  assert config.sampling == 'fast' and config.hash_fidelity == 'approximate'
  assert config.scan_id == 'x' and config.inputs == ('1',)


def test_dockerfile_matches_the_pins():
  with open(os.path.join(ROOT, 'dataflow', 'Dockerfile'), encoding='utf-8') as f:
    dockerfile = f.read()
  with open(os.path.join(ROOT, 'setup.py'), encoding='utf-8') as f:
    setup = f.read()
  beam_pin = re.search(r"apache-beam\[gcp\]==([\d.]+)", setup).group(1)
  tf_pin = re.search(r"tensorflow-cpu==([\d.]+)", setup).group(1)
  assert beam.__version__ == beam_pin
  assert f'ARG BEAM_VERSION={beam_pin}' in dockerfile
  assert 'apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION}' in dockerfile
  assert f'tensorflow[and-cuda]=={tf_pin}' in dockerfile
  assert 'pip check' in dockerfile
  assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in dockerfile
  assert 'FLEX_TEMPLATE_PYTHON_PY_FILE=/template/pipeline/run.py' in dockerfile


def test_the_worker_image_installs_the_scan_and_nothing_else():
  with open(os.path.join(ROOT, 'dataflow', 'Dockerfile'), encoding='utf-8') as f:
    dockerfile = f.read()
  copied = set()
  for line in re.findall(r'^COPY (?!--from)(.+)$', dockerfile, re.MULTILINE):
    copied.update(line.split()[:-1])
  assert copied == {'setup.py', 'README.md', 'pipeline', 'schemas'}
  installs = re.findall(r'pip install (\S+)', dockerfile)
  assert installs == ['/template'], 'no extras, no model/, no tests/'
