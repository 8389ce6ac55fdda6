"""The grammar ships inside the wheel: install one into a fresh venv and check a spec there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

from .conftest import EXAMPLES, ROOT


def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = dist.glob("aggspec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "aggspec/grammars/agg.lark" in names and "aggspec/py.typed" in names

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
    )
    # The dependencies (torch, lark, networkx...) come from this environment's
    # site-packages, added to the new venv's path; aggspec itself only from the wheel.
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "outer_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(EXAMPLES / "densenet_cifar.agg", work)
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(python), "-c", "import aggspec; print(aggspec.__file__)"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
        env=clean_env,
    ).stdout
    assert where.startswith(str(site))
    result = subprocess.run(
        [
            str(env_dir / "bin" / "aggspec"),
            "check",
            "densenet_cifar.agg",
            "-D",
            "depth=100",
            "-D",
            "bottleneck=true",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        env=clean_env,
    )
    assert result.returncode == 0, result.stderr
    assert "769,162 parameters" in result.stdout
