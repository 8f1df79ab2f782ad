"""Fixtures for the study tests: a tiny real study (two small crops of the bundled test image,
compressed by the eval suite's Pillow codecs) and a server on a free loopback port."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from study_helpers import BPPS, CODECS, RunningServer, make_dataset

from salicodec.study.create import create_study
from salicodec.study.layout import StudyConfig


@pytest.fixture(scope="session")
def study_template(tmp_path_factory) -> Path:
    """A study built once per session; tests that write votes copy it (see `study_dir`)."""
    root = tmp_path_factory.mktemp("study_template")
    dataset = make_dataset(root / "dataset")
    create_study(dataset, root / "study", StudyConfig(codecs=CODECS, bpps=BPPS, votes_per_trial=3), progress=False)
    return root / "study"


@pytest.fixture
def study_dir(study_template, tmp_path) -> Path:
    dest = tmp_path / "study"
    shutil.copytree(study_template, dest)
    return dest


@pytest.fixture
def server(study_dir):
    s = RunningServer(study_dir)
    yield s
    s.close()


