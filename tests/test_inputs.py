"""Patterns and manifests become video references."""
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.scan import inputs


def test_pattern_matches_recursively_with_stable_ids(corpus):
  refs = list(inputs.expand_input(os.path.join(corpus.root, '**')))
  assert sorted(r.uri for r in refs) == corpus.all_paths
  again = {r.uri: r.video_id for r in inputs.expand_input(
      os.path.join(corpus.root, '**'))}
  assert all(again[r.uri] == r.video_id for r in refs)
  assert all(r.video_id == inputs.stable_video_id(r.uri) for r in refs)


def test_relative_patterns_become_absolute_uris(corpus, monkeypatch):
  monkeypatch.chdir(corpus.root)
  refs = list(inputs.expand_input('*.webm'))
  assert refs and all(os.path.isabs(r.uri) for r in refs)


def test_csv_manifest_with_ids_relative_paths_and_missing_files(corpus,
                                                                tmp_path):
  video = sorted(corpus.videos)[0]
  manifest = tmp_path / 'list.csv'
  manifest.write_text('video_id,uri,note\n'
                      f'abc,{video},x\n'
                      ',does/not/exist.mp4,y\n'
                      ',,empty row\n', encoding='utf-8')
  refs = list(inputs.expand_input(str(manifest)))
  assert refs[0] == inputs.VideoRef('abc', video, explicit_id=True)
  assert refs[1].uri == str(tmp_path / 'does' / 'not' / 'exist.mp4')
  assert refs[1].video_id == inputs.stable_video_id(refs[1].uri)
  assert len(refs) == 2


def test_parquet_manifest(corpus, tmp_path):
  paths = sorted(corpus.videos)[:3]
  pq.write_table(pa.table({'uri': paths}), tmp_path / 'm.parquet')
  assert [r.uri for r in inputs.expand_input(str(tmp_path / 'm.parquet'))] \
      == paths


def test_bad_inputs_fail_before_the_job_starts(tmp_path):
  bad = tmp_path / 'bad.csv'
  bad.write_text('path\nx.mp4\n', encoding='utf-8')
  with pytest.raises(inputs.InputError, match='no "uri" column'):
    inputs.check_input(str(bad))
  with pytest.raises(inputs.InputError, match='does not exist'):
    inputs.check_input(str(tmp_path / 'missing.csv'))
  with pytest.raises(inputs.InputError, match='matches no files'):
    inputs.check_input(str(tmp_path / 'nothing' / '*.mp4'))
