"""Definition files as hostile input: FIFOs and devices, sizes counted on what is read, tags beyond the
core ones, numbers past what JSON or Python hold, symlink loops. Each is one located line, never a hang
or a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_run import run_cli

from integration_sync import loader
from integration_sync.fsutil import NotRegularFile, TooLarge, read_regular

BASE = "name: A\ndirection: Inbound\nentity: Payment\nconsent_type: OAuth\n"


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "definitions"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    (tmp_path / "integration-sync.yaml").write_text("definitions: definitions\n")
    return tmp_path


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if ": error: " in line]


@pytest.mark.timeout(20)
def test_a_fifo_named_as_a_definition_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # no writer: opening it for reading the usual way would block forever
    defs, diags = loader.load_definitions(fifo, "pipe.yaml")
    assert defs == []
    assert [(d.rule, d.line) for d in diags] == [("file-unreadable", 1)]
    assert "regular file" in diags[0].message


@pytest.mark.timeout(20)
def test_a_device_is_refused_and_never_read(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile):
        read_regular(Path("/dev/zero"), loader.MAX_BYTES)
    defs, diags = loader.load_definitions(Path("/dev/zero"), "zero.yaml")
    assert defs == [] and [d.rule for d in diags] == ["file-unreadable"]


@pytest.mark.timeout(20)
def test_a_fifo_inside_the_definitions_folder_is_one_located_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path, {"a.yaml": BASE})
    os.mkfifo(root / "definitions" / "b.yaml")
    monkeypatch.chdir(root)
    run = run_cli(capsys, "validate")
    assert run.code == 1
    assert _errors(run.out + run.err) == [
        "definitions/b.yaml:1:1: error: cannot read file: not a regular file (a FIFO, device or socket): "
        "only regular files are read [file-unreadable]"
    ]


def test_the_size_limit_counts_bytes_read_not_the_size_the_file_claims(tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"
    small.write_bytes(b"a: 1\n")
    assert read_regular(small, 5) == b"a: 1\n"
    with pytest.raises(TooLarge):
        read_regular(small, 4)
    # /proc files claim st_size 0 and are not regular; a growing file is cut at the limit either way.
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 100)
    with pytest.raises(TooLarge) as info:
        read_regular(big, 10)
    assert info.value.size == 11  # reading stopped one byte past the limit


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("consent_type: !!binary aGVsbG8=\n", "yaml-tag"),
        ("notes: !foo text\n", "yaml-tag"),
        ("vars_note: !!set {a, b}\n", "yaml-tag"),
        ("steps: !custom [1, 2]\n", "yaml-tag"),
        ("max_attempts: " + "9" * 5000 + "\n", "yaml-number"),
    ],
)
def test_tags_beyond_the_core_ones_and_huge_integers_are_located_errors(text: str, rule: str) -> None:
    docs, diags = loader.parse("name: A\n" + text, "x.yaml")
    assert docs == []
    assert [(d.rule, d.line) for d in diags] == [(rule, 2)]


def test_core_tags_and_plain_dates_still_read() -> None:
    docs, diags = loader.parse("a: !!str 0755\nb: !!int '7'\nc: 2026-01-01\nd: !!float 1\n", "x.yaml")
    assert diags == []
    assert docs[0].data == {"a": "0755", "b": 7, "c": "2026-01-01", "d": 1.0}


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_a_non_finite_number_is_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.chdir(_project(tmp_path, {"a.yaml": BASE + f"max_attempts: {value}\n"}))
    run = run_cli(capsys, "validate")
    assert run.code == 1
    errors = _errors(run.out + run.err)
    assert len(errors) == 1, run.err
    assert errors[0].startswith("definitions/a.yaml:5:15: error: max_attempts:")
    assert "JSON has no infinity or NaN" in errors[0]


def test_a_5000_digit_integer_in_a_filter_is_one_clipped_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for i, digits in enumerate(("9" * 5000, "²")):
        (tmp_path / str(i)).mkdir()
        monkeypatch.chdir(_project(tmp_path / str(i), {"a.yaml": BASE + f"filter: Amount gt {digits}\n"}))
        run = run_cli(capsys, "validate")
        assert run.code == 1, run.err
        assert "Traceback" not in run.err
        errors = _errors(run.out + run.err)
        assert len(errors) == 1 and "[filter-syntax]" in errors[0], run.err
        assert len(errors[0]) < 300


def test_a_symlink_loop_in_the_folder_is_one_located_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path, {"a.yaml": BASE})
    (root / "definitions" / "x.yaml").symlink_to("y.yaml")
    (root / "definitions" / "y.yaml").symlink_to("x.yaml")
    monkeypatch.chdir(root)
    run = run_cli(capsys, "validate")
    assert run.code == 1
    assert "Traceback" not in run.err
    assert _errors(run.out + run.err) == [
        "definitions/x.yaml:1:1: error: cannot read file: Too many levels of symbolic links [file-unreadable]",
        "definitions/y.yaml:1:1: error: cannot read file: Too many levels of symbolic links [file-unreadable]",
    ]


def test_a_symlink_loop_as_the_folder_is_one_located_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "defs").symlink_to("defs2")
    (tmp_path / "defs2").symlink_to("defs")
    (tmp_path / "integration-sync.yaml").write_text("definitions: defs\n")
    monkeypatch.chdir(tmp_path)
    run = run_cli(capsys, "validate")
    assert run.code == 1
    assert _errors(run.out + run.err) == [
        "defs:1:1: error: cannot read: Too many levels of symbolic links [file-unreadable]"
    ]
