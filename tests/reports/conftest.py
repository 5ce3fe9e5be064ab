"""Shared by the site tests: one site built once per session from the sample database with
hostile names (see html_check.py)."""
from __future__ import annotations

import pytest

from html_check import build_sample_site


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict:
    return build_sample_site(tmp_path_factory.mktemp("site"))
