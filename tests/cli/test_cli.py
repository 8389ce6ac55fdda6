"""The aggspec command: summaries, overrides, exit codes, and no tracebacks for user errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aggspec import cli
from aggspec.cli import commands

from ..conftest import EXAMPLES, ROOT, run


def test_check_prints_a_summary(capsys, monkeypatch, golden) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, "check", "examples/sparsenet_cifar.agg", "-D", "classes=100")
    assert code == 0 and err == ""
    golden("check_sparsenet_cifar.txt", out)
    assert "1,461,124 parameters" in out


def test_check_with_list_override(capsys) -> None:
    code, out, _ = run(
        capsys,
        "check",
        str(EXAMPLES / "sparsenet_cifar.agg"),
        "-D",
        "growth=[16,32,64]",
        "-D",
        "bottleneck=false",
    )
    assert code == 0
    assert "sparse_layer(16)" in out and "sparse_layer(64)" in out


def test_check_string_override_as_bare_word(capsys) -> None:
    code, out, _ = run(capsys, "check", str(EXAMPLES / "sparsenet_cifar.agg"), "-D", "merge=sum")
    assert code == 0 and " sum " in out


def test_user_error_exits_2_with_located_message(capsys, tmp_path) -> None:
    spec = tmp_path / "bad.agg"
    spec.write_text("network N(input 3x8x8) {\n  conv(4, 3) rleu\n}\n")
    code, out, err = run(capsys, "check", str(spec))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"{spec}:2:14: error: unknown op or definition 'rleu'; did you mean 'relu'?",
        "  conv(4, 3) rleu",
        "             ^~~~",
    ]


def test_bad_override_exits_2(capsys) -> None:
    code, _, err = run(capsys, "check", str(EXAMPLES / "plain.agg"), "-D", "depth=six")
    assert code == 2
    assert err.startswith("<command line>:1:7: error: parameter 'depth' takes int, got string \"six\"")


def test_missing_file_exits_2(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "check", str(tmp_path / "nope.agg"))
    assert code == 2 and "cannot read file" in err


def test_limits_are_configurable(capsys) -> None:
    code, _, err = run(capsys, "check", str(EXAMPLES / "densenet121.agg"), "--max-layers", "100")
    assert code == 2 and "more than 100 layers" in err


def test_internal_errors_are_not_disguised(monkeypatch, capsys) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in aggspec\nsecond line")

    monkeypatch.setattr(commands, "build_spec", broken)
    code, out, err = run(capsys, "check", str(EXAMPLES / "plain.agg"))
    assert code == 1 and out == ""
    assert err.splitlines()[0] == "aggspec: internal error: RuntimeError: a bug in aggspec"
    assert (
        "This is a bug in aggspec" in err
        and "--debug" in err
        and "error:" not in err.replace("internal error:", "")
    )
    with pytest.raises(
        RuntimeError, match="a bug in aggspec"
    ):  # --debug: the traceback, anywhere on the line
        cli.main(["check", str(EXAMPLES / "plain.agg"), "--debug"])
    with pytest.raises(RuntimeError, match="a bug in aggspec"):
        cli.main(["--debug", "check", str(EXAMPLES / "plain.agg")])


@pytest.mark.slow
def test_python_dash_m_and_no_traceback(tmp_path) -> None:
    spec = tmp_path / "bad.agg"
    spec.write_text("network N(input 3x8x8) { conv(4, 3 }\n")
    result = subprocess.run(
        [sys.executable, "-m", "aggspec", "check", str(spec)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{spec}:1:36: error: unexpected '}}'" in result.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "aggspec", "check", str(EXAMPLES / "resnet18.agg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and "11,689,512 parameters" in ok.stdout


def test_byte_order_mark_is_accepted(capsys, tmp_path) -> None:
    spec = tmp_path / "bom.agg"
    spec.write_bytes("\ufeffnetwork N(input 3x8x8) { relu }\n".encode())
    code, out, _ = run(capsys, "check", str(spec))
    assert code == 0 and "network N" in out


def test_override_without_a_name(capsys) -> None:
    code, _, err = run(capsys, "check", str(EXAMPLES / "plain.agg"), "-D", "=3")
    assert code == 2
    assert err.splitlines()[0] == "<command line>:1:1: error: unexpected '='; expected a name"


def test_every_limit_has_a_command_line_option() -> None:
    import dataclasses

    from aggspec import Limits

    assert set(commands._LIMIT_OPTIONS) == {field.name for field in dataclasses.fields(Limits)}
