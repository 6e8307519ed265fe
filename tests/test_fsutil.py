"""Writing through a temporary file and a rename: all or nothing, permissions kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from integration_sync.fsutil import write_text_atomic


def test_creates_with_readable_permissions_and_keeps_existing_ones(tmp_path: Path) -> None:
    new = tmp_path / "sub" / "new.yaml"
    write_text_atomic(new, "a: 1\n")
    assert new.read_text() == "a: 1\n"
    assert new.stat().st_mode & 0o777 == 0o644
    os.chmod(new, 0o600)
    write_text_atomic(new, "a: 2\n")
    assert new.read_text() == "a: 2\n" and new.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in new.parent.iterdir()) == ["new.yaml"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "x.yaml"
    target.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "bad \udc80 surrogate\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.yaml"]
