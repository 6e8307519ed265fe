"""integration-sync.yaml: defaults, overlays, and every mistake located at path:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration_sync.config import Safety, Settings, load_config
from integration_sync.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "integration-sync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_config_loads_with_the_embedded_tenant() -> None:
    config = load_config(REPO / "integration-sync.yaml", must_exist=True)
    assert config.definitions == REPO / "definitions"
    local = config.tenant("local")
    assert local.embedded == "local"
    assert local.token_env is None


def test_missing_default_file_gives_the_default_config(tmp_path: Path) -> None:
    config = load_config(tmp_path / "integration-sync.yaml", must_exist=False)
    assert config.definitions == tmp_path.resolve() / "definitions"
    assert [(t.name, t.url, t.embedded) for t in config.tenants] == [("local", "emulator:local", "local")]
    assert config.settings == Settings()
    assert config.safety == Safety()


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "other.yaml", must_exist=True)


def test_full_config_with_tenant_safety_overlay(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
definitions: defs
tenants:
  - name: acme
    url: https://acme.example.com/OData
    token_env: FK_TOKEN_ACME
    tags: [uk, big]
    vars: {xero_system_id: 7}
    safety: {max_change_pct: 20}
  - name: dev
    url: http://127.0.0.1:8080/OData/
settings: {parallelism: 2, page_size: 50, timeout_s: 5, max_retries: 0}
safety: {allow_delete: true, max_change_pct: 40, max_delete_pct: 5}
""",
    )
    config = load_config(path, must_exist=True)
    assert config.definitions == tmp_path.resolve() / "defs"
    acme = config.tenant("acme")
    assert acme.url == "https://acme.example.com/OData/"
    assert acme.embedded is None
    assert acme.tags == ("uk", "big")
    assert acme.vars == {"xero_system_id": 7}
    assert acme.safety == Safety(allow_delete=True, max_change_pct=20.0, max_delete_pct=5.0)
    assert config.tenant("dev").safety == config.safety
    assert config.settings == Settings(parallelism=2, page_size=50, timeout_s=5.0, max_retries=0)


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        ("definitons: defs\n", 1, 1, "did you mean definitions?"),
        ("tenants:\n  - name: a\n    url: emulator:a\n    tagz: [x]\n", 4, 5, "did you mean tags?"),
        (
            "tenants:\n  - name: a\n    url: emulator:a\n  - name: A\n    url: emulator:b\n",
            4,
            11,
            "duplicate",
        ),
        ("tenants:\n  - name: a\n    url: ftp://x/\n", 3, 10, "invalid url"),
        ("tenants:\n  - name: a\n    url: http://example.com/OData/\n", 3, 10, "plain http"),
        ("tenants:\n  - name: a\n    url: emulator:a\n    token: abc\n", 4, 5, "secrets never go"),
        ("tenants:\n  - name: a\n    url: emulator:a\n    token_env: 1X\n", 4, 16, "environment variable"),
        ("tenants:\n  - name: a\n", 2, 5, "needs 'url'"),
        ("tenants:\n  - name: 'tag:x'\n    url: emulator:a\n", 2, 11, "invalid tenant name"),
        ("tenants: []\n", 1, 10, "at least one tenant"),
        ("settings: {parallelism: '4'}\n", 1, 25, "expected an integer"),
        ("settings: {parallelism: 0}\n", 1, 25, "at least 1"),
        ("safety: {allow_delete: yes please}\n", 1, 24, "true or false"),
        ("safety: {max_change_pct: 150}\n", 1, 26, "between 0 and 100"),
        ("- a\n", 1, 1, "expected a mapping"),
        ("a: [\n", 2, 1, "YAML syntax error"),
        ("a: 1\na: 2\n", 2, 1, "duplicate key"),
        ("", 1, 1, "empty"),
    ],
)
def test_config_errors_are_located(tmp_path: Path, text: str, line: int, col: int, fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, must_exist=True)
    assert fragment in err.value.message
    assert (err.value.line, err.value.col) == (line, col)
    assert str(err.value).startswith(f"{err.value.path}:{line}:{col}: ")


@pytest.mark.parametrize(
    "url", ["https://acme.ex]ample.com/OData/", "https://acme.example.com:99999/OData/", "https://[::1/"]
)
def test_malformed_urls_are_config_errors(tmp_path: Path, url: str) -> None:
    path = _write(tmp_path, f"tenants:\n  - name: a\n    url: '{url}'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, must_exist=True)
    assert "invalid url" in err.value.message
    assert (err.value.line, err.value.col) == (3, 10)


def test_odata_names_and_max_lengths_overlay_per_tenant(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "odata_names: {element_id: ElementCode, notes: Remarks}\n"
        "max_lengths: {entity: 40}\n"
        "tenants:\n"
        "  - {name: a, url: 'emulator:a'}\n"
        "  - {name: b, url: 'emulator:b', odata_names: {notes: Comment}, max_lengths: {name: 50}}\n",
    )
    config = load_config(path, must_exist=True)
    a, b = config.tenants
    assert a.odata_names == {"element_id": "ElementCode", "notes": "Remarks"} and a.max_lengths == {
        "entity": 40
    }
    assert b.odata_names == {"element_id": "ElementCode", "notes": "Comment"}
    assert b.max_lengths == {"entity": 40, "name": 50}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("odata_names: {elment_id: X}\n", "did you mean element_id?"),
        ("odata_names: {element_id: 'Element Code'}\n", "not an OData property name"),
        ("max_lengths: {entity: 451}\n", "between 1 and the schema's 450 limit"),
        ("max_lengths: {batch_size: 3}\n", "is not text"),
        ("tenants:\n  - {name: a, url: 'emulator:a', max_lengths: {name: 0}}\n", "between 1 and"),
    ],
)
def test_odata_names_and_max_lengths_mistakes_are_located(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("?", r"\?")):
        load_config(_write(tmp_path, text), must_exist=True)
