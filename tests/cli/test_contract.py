"""The command line's contract: 0 on success, 2 and ``error:`` for a misuse, 1 for aggspec's bugs.

Every misuse below once ended in a traceback, or was accepted silently. Most
run in-process; the ones about the process itself (standard input and
output, the installed script, argparse's own exits) run ``aggspec`` as a
subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import EXAMPLES, run

SPEC = str(EXAMPLES / "plain.agg")
SPARSE = str(EXAMPLES / "sparsenet_cifar.agg")


def _misuses(tmp: Path) -> list[tuple[list[str], str]]:
    folder = tmp / "a folder.svg"
    folder.mkdir()
    missing = str(tmp / "no such folder" / "out")
    return [
        (["viz", SPEC, "-o", str(tmp / "x.bmpx")], "-o writes .svg, .png"),
        (["viz", SPEC, "-o", str(tmp / "noextension")], "has no extension"),
        (["viz", SPEC, "-o", missing + ".svg"], "no folder"),
        (["viz", SPEC, "-o", str(folder)], "it is a folder"),
        (["viz", SPEC, "-o", "/proc/aggspec.svg"], "cannot write"),
        (["viz", SPEC, "--matrix", "-o", str(tmp / "m.dot")], "-o writes .png, .svg"),
        (["viz", SPEC, "--matrix", "-o", missing + ".png"], "no folder"),
        (["analyze", SPARSE, "--sweep", "depth=40,100", "--plot", missing + ".png"], "no folder"),
        (["analyze", SPARSE, "--sweep", "depth=40,100", "--plot", str(tmp / "p.txt")], "--plot writes"),
        (["compile", SPEC, "-o", missing + ".py"], "no folder"),
        (["compile", SPEC, "--check", "-o", str(tmp / "m.py"), "--batch", "0"], "at least 1"),
        (["compile", SPEC, "--check", "-o", str(tmp / "m.py"), "--batch", str(10**12)], "lower --batch"),
        (["check", SPARSE, "-D", "depth=40", "-D", "depth=100"], "gives 'depth' twice"),
        (["analyze", SPARSE, "--sweep", "depth=40,100", "-D", "depth=52"], "sets the param that --sweep"),
        (["check", SPEC, "--max-source-bytes", "10"], "longer than 10 bytes"),
        (["plot", str(tmp), "-o", str(tmp / "c.gif")], "-o writes .png, .svg or .pdf"),
    ]


def test_every_misuse_is_a_located_error_with_exit_2(capsys, tmp_path: Path) -> None:
    for argv, expected in _misuses(tmp_path):
        code, _, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        assert "error:" in err and expected in err, (argv, err)
        assert "Traceback" not in err, argv
    assert not list(tmp_path.glob("*.svg")) or [p.name for p in tmp_path.glob("*.svg")] == ["a folder.svg"]


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--max-recursion", "-5", "must be at least 1, got -5"),
        ("--max-layers", "0", "must be at least 1, got 0"),
        ("--max-steps", "many", "expected a whole number, got 'many'"),
    ],
)
def test_limits_are_checked_themselves(capsys, flag: str, value: str, expected: str) -> None:
    with pytest.raises(SystemExit) as exited:
        run(capsys, "check", SPEC, flag, value)
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err


def test_limits_accept_readable_numbers(capsys) -> None:
    code, _, _ = run(capsys, "check", SPEC, "--max-layers", "1_000", "--max-connections", "10,000")
    assert code == 0


def _aggspec() -> list[str]:
    """The installed console script, as a user runs it (python -m aggspec where there is none)."""
    script = shutil.which("aggspec", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "aggspec"]


def _run_installed(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_aggspec(), *argv], capture_output=True, text=True, timeout=120, **kwargs)


@pytest.mark.slow
def test_version_and_standard_input() -> None:
    from aggspec import __version__

    version = _run_installed("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"aggspec {__version__}"
    text = Path(SPEC).read_text()
    piped = _run_installed("check", "-", input=text)
    assert piped.returncode == 0, piped.stderr
    from_file = _run_installed("check", SPEC).stdout
    assert piped.stdout.splitlines()[0] == "network Plain  (<stdin>)"
    assert piped.stdout.splitlines()[1:] == from_file.splitlines()[1:]
    wrong = _run_installed("check", "-", input="network N(input 3x8x8) {\n  conv(4, 3) rleu\n}\n")
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("<stdin>:2:14: error: unknown op or definition 'rleu'")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_or_closed_standard_output_is_an_error_not_a_traceback() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*_aggspec(), "analyze", SPARSE], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert done.returncode == 2
    assert done.stderr.strip() == "aggspec: error: cannot write to standard output: No space left on device"
    closed = subprocess.run(
        ["bash", "-c", 'exec "$@" >&-', "aggspec", *_aggspec(), "check", SPEC],
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    assert closed.returncode == 2
    assert "standard output is closed" in closed.stderr


@pytest.mark.slow
def test_a_spec_that_never_ends_is_refused_after_the_limit() -> None:
    done = _run_installed("check", "/dev/zero", "--max-source-bytes", "1000000")
    assert done.returncode == 2
    assert done.stderr.startswith("/dev/zero: error: the spec is longer than 1,000,000 bytes")


def test_python_callers_get_limits_checked_too() -> None:
    import aggspec

    with pytest.raises(ValueError, match=r"Limits\.max_recursion must be at least 1, got -5"):
        aggspec.Limits(max_recursion=-5)
    with pytest.raises(TypeError, match=r"Limits\.max_layers must be an int"):
        aggspec.Limits(max_layers=True)
    with pytest.raises(aggspec.AggSpecError, match="longer than 5 bytes"):
        aggspec.loads("network N(input 3x8x8) { relu }", limits=aggspec.Limits(max_source_bytes=5))


def test_nothing_is_left_behind_by_a_refused_output(capsys, tmp_path: Path) -> None:
    code, _, _ = run(capsys, "viz", SPEC, "-o", str(tmp_path / "m.txt"))
    assert code == 2 and os.listdir(tmp_path) == []
