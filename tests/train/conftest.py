from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _run_in_a_scratch_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training writes runs/<network> relative to the working folder: keep it out of the checkout."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
