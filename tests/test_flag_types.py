"""Flag value types: every bound, and no non-finite number anywhere."""
import argparse

import pytest

from pipeline.runtime import flag_types

NUMERIC = {
    flag_types.positive_float: (['0.5', '1e3'], ['0', '-1', '-0.0']),
    flag_types.non_negative_float: (['0', '2.5'], ['-0.1']),
    flag_types.positive_int: (['1', '64'], ['0', '-3']),
    flag_types.non_negative_int: (['0', '7'], ['-1']),
    flag_types.unit_interval: (['0', '1', '0.5'], ['1.01', '-0.01']),
    flag_types.fraction_below_one: (['0', '0.99'], ['1', '-0.1']),
    flag_types.positive_fraction: (['1', '0.01'], ['0', '1.5']),
}


@pytest.mark.parametrize('parse', list(NUMERIC), ids=lambda f: f.__name__)
def test_numeric_flags_keep_their_bounds(parse):
  good, bad = NUMERIC[parse]
  for text in good:
    assert parse(text) == float(text)
  for text in bad:
    with pytest.raises(argparse.ArgumentTypeError, match='must be'):
      parse(text)


@pytest.mark.parametrize('parse', list(NUMERIC), ids=lambda f: f.__name__)
@pytest.mark.parametrize('text', ['inf', '-inf', 'nan', 'Infinity', '1e999'])
def test_non_finite_numbers_are_refused(parse, text):
  try:
    parse(text)
  except argparse.ArgumentTypeError as exc:
    assert 'finite' in str(exc) or 'must be' in str(exc)
  except ValueError:
    pass  # int('inf'): argparse reports "invalid <name> value"
  else:
    pytest.fail(f'{parse.__name__} accepted {text!r}')


def test_argparse_names_the_type_for_unparsable_text(capsys):
  parser = argparse.ArgumentParser(prog='t')
  parser.add_argument('--n', type=flag_types.positive_int)
  with pytest.raises(SystemExit):
    parser.parse_args(['--n', '1.5'])
  assert "invalid positive_int value: '1.5'" in capsys.readouterr().err


@pytest.mark.parametrize('text,value', [('true', True), ('No', False),
                                        ('1', True), ('0', False)])
def test_boolean(text, value):
  assert flag_types.boolean(text) is value
  with pytest.raises(argparse.ArgumentTypeError):
    flag_types.boolean('maybe')
