"""The config through the real CLI: found from any folder of the repository, every mistake at once in
file order, its own JSON Schema, limits sized for a fleet, and global options after the command."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from cli_run import run_cli

from integration_sync.config import CONFIG_SCHEMA_FILE, Safety, Settings, config_schema, load_config
from integration_sync.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def _repo(tmp_path: Path, config: str | None) -> Path:
    """A repository (a folder with .git) with a config at its root and one definition."""
    (tmp_path / ".git").mkdir(parents=True)
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "a.yaml").write_text(
        "name: A\ndirection: Inbound\nentity: Invoice\nconsent_type: None\nsync:\n  tenants: ['*']\n"
    )
    if config is not None:
        (tmp_path / "integration-sync.yaml").write_text(config)
    return tmp_path


def test_the_config_is_found_from_a_subfolder_and_minus_v_after_the_command_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _repo(tmp_path, "definitions: definitions\ntenants:\n  - {name: local, url: 'emulator:local'}\n")
    deep = root / "definitions" / "sub"
    deep.mkdir()
    monkeypatch.chdir(deep)
    r = run_cli(capsys, "validate", "-v")
    assert r.code == 0, r.err
    assert "1 definition" in r.out
    assert "using the config" in r.err and "integration-sync.yaml" in r.err


def test_the_search_stops_at_the_repository_root_and_says_the_defaults_are_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a config above the repository is not this repository's
    (tmp_path / "integration-sync.yaml").write_text("tenants: {broken\n")
    root = _repo(tmp_path / "repo", None)
    monkeypatch.chdir(root)
    r = run_cli(capsys, "validate", "-v")
    assert r.code == 0, r.err
    assert [line for line in r.err.splitlines() if "using" in line] == [
        "INFO integration_sync.cli: no integration-sync.yaml in this folder or above it (up to the "
        "repository root): using the defaults (definitions/ here, the embedded tenant local)"
    ]
    assert "using the defaults" not in run_cli(capsys, "validate").err


def test_global_options_work_before_and_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _repo(tmp_path, "tenants: [{name: local, url: 'emulator:local'}]\n")
    other = tmp_path / "elsewhere.yaml"
    other.write_text("definitions: nowhere\n")
    monkeypatch.chdir(root)
    after = run_cli(capsys, "validate", "--config", str(other))
    assert after.code == 1 and "nowhere" in after.out
    after_eq = run_cli(capsys, "validate", f"--config={other}", "-vv")
    assert after_eq.code == 1 and "nowhere" in after_eq.out and "using the config" in after_eq.err
    debug = run_cli(capsys, "validate", "--debug")
    assert debug.code == 0


def test_every_config_mistake_is_reported_at_once_in_file_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "ghp_" + "a" * 70
    text = f"""\
definitons: defs
tenants:
  - name: a
    url: emulator:a
    tagz: [x]
  - name: A
    url: https://user:hunter2@x.example.com/OData/
    token_env: {token}
  - name: b
    url: https://x.example.com/OData/?access_token=sekrit
    token: abc
settings: {{timeout_s: .nan, tenant_deadline_s: .inf, parallelism: '4', max_response_mib: 0}}
safety: {{max_change_pct: 150, min_existing: -1, retry_budget_s: 3}}
"""
    root = _repo(tmp_path, text)
    monkeypatch.chdir(root)
    r = run_cli(capsys, "plan")
    assert r.code == 1
    lines = r.err.splitlines()
    assert all(line.startswith("error: integration-sync.yaml:") for line in lines)
    where = [tuple(int(n) for n in line.split(":")[2:4]) for line in lines]
    assert where == sorted(where) and len(where) == 14
    expected = [
        "did you mean definitions?",
        "did you mean tags?",
        "duplicate tenant name 'A' (first at line 3)",
        "credentials do not belong in the url",
        "token_env: is not an environment variable name",
        "a base URL has no query or fragment",
        "secrets never go in the config",
        "timeout_s: must be a finite number, got nan",
        "tenant_deadline_s: must be a finite number, got inf",
        "parallelism: expected an integer, got a string ('4')",
        "max_response_mib: must be at least 1, got 0",
        "max_change_pct: must be between 0 and 100, got 150",
        "min_existing: must be at least 0, got -1",
        "unknown key 'retry_budget_s'",
    ]
    for line, fragment in zip(lines, expected, strict=True):
        assert fragment in line
    for secret in (token, "hunter2", "sekrit"):
        assert secret not in r.err
    # the JSON report of validate holds them all too
    j = run_cli(capsys, "validate", "--format", "json")
    assert j.code == 1 and len(json.loads(j.out)["diagnostics"]) == 14


@pytest.mark.parametrize(
    ("setting", "value", "fragment"),
    [
        ("timeout_s", ".nan", "finite"),
        ("timeout_s", ".inf", "finite"),
        ("timeout_s", "-.inf", "finite"),
        ("tenant_deadline_s", "0", "more than 0"),
        ("retry_budget_s", "-1", "at least 0"),
        ("retry_budget_s", ".nan", "finite"),
        ("max_response_mib", "1.5", "expected an integer"),
        ("page_size", ".inf", "finite"),
    ],
)
def test_number_settings_refuse_nan_infinity_and_out_of_bounds(
    tmp_path: Path, setting: str, value: str, fragment: str
) -> None:
    path = tmp_path / "integration-sync.yaml"
    path.write_text(f"settings:\n  {setting}: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, must_exist=True)
    assert fragment in err.value.message and (err.value.line, err.value.col) == (2, len(setting) + 5)


def test_new_settings_have_their_defaults_and_read_their_values(tmp_path: Path) -> None:
    assert Settings().tenant_deadline_s == 300 and Settings().retry_budget_s == 120
    assert Settings().max_response_mib == 64 and Safety().min_existing == 10
    path = tmp_path / "integration-sync.yaml"
    path.write_text(
        "settings: {tenant_deadline_s: 60, retry_budget_s: 0, max_response_mib: 8}\n"
        "safety: {min_existing: 0}\n"
        "tenants:\n  - {name: a, url: 'emulator:a', safety: {min_existing: 3}}\n  - {name: b, url: 'emulator:b'}\n"
    )
    config = load_config(path, must_exist=True)
    assert config.settings == Settings(tenant_deadline_s=60.0, retry_budget_s=0.0, max_response_mib=8)
    assert isinstance(config.settings.tenant_deadline_s, float)
    assert config.tenant("a").safety.min_existing == 3 and config.tenant("b").safety.min_existing == 0


@pytest.mark.parametrize(
    "token_env", ["1X", "FK-TOKEN", "A" * 65, "ghp_" + "x" * 36 + "-", "eyJhbGciOiJIUzI1NiJ9.e30.abc"]
)
def test_a_bad_token_env_is_refused_without_echoing_it(tmp_path: Path, token_env: str) -> None:
    path = tmp_path / "integration-sync.yaml"
    path.write_text(f"tenants:\n  - name: a\n    url: emulator:a\n    token_env: '{token_env}'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, must_exist=True)
    assert "environment variable name" in str(err.value) and token_env not in str(err.value)


def test_a_valid_token_env_of_64_characters_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "integration-sync.yaml"
    path.write_text(f"tenants:\n  - name: a\n    url: emulator:a\n    token_env: {'A' * 64}\n")
    assert load_config(path, must_exist=True).tenant("a").token_env == "A" * 64


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://bob:s3cretpw@acme.example.com/OData/", "s3cretpw"),
        ("https://s3cretpw@acme.example.com/OData/", "s3cretpw"),
        ("https://acme.example.com/OData/?token=s3cretpw", "s3cretpw"),
        ("https://acme.example.com/OData/#s3cretpw", "s3cretpw"),
        ("ftp://bob:s3cretpw@acme.example.com/", "s3cretpw"),
        ("gopher://acme.example.com/s3cretpw?x", "s3cretpw"),
    ],
)
def test_a_url_with_credentials_a_query_or_another_scheme_is_refused_without_echoing_them(
    tmp_path: Path, url: str, secret: str
) -> None:
    path = tmp_path / "integration-sync.yaml"
    path.write_text(f"tenants:\n  - name: a\n    url: '{url}'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, must_exist=True)
    assert secret not in str(err.value)
    assert (err.value.line, err.value.col) == (3, 10)


@pytest.mark.slow
def test_a_fleet_of_10000_tenants_loads_and_an_alias_bomb_still_does_not(tmp_path: Path) -> None:
    tenants = [
        {
            "name": f"tenant-{i:05d}",
            "url": f"https://tenant-{i:05d}.financekey.example.com/OData/",
            "token_env": f"FK_TOKEN_{i:05d}",
            "tags": ["uk", f"region-{i % 7}"],
            "vars": {"xero_system_id": i, "region": f"r{i % 7}"},
        }
        for i in range(10_000)
    ]
    path = tmp_path / "integration-sync.yaml"
    path.write_text(yaml.safe_dump({"tenants": tenants}, sort_keys=False))
    assert path.stat().st_size > 1024 * 1024  # over a definition's limit
    config = load_config(path, must_exist=True)
    assert len(config.tenants) == 10_000 and config.tenant("TENANT-09999").vars["xero_system_id"] == 9999
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(7)]
    path.write_text("\n".join(bomb) + "\n")
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config(path, must_exist=True)


def test_the_config_schema_is_shipped_and_describes_the_repository_config() -> None:
    shipped = json.loads((REPO / "schemas" / CONFIG_SCHEMA_FILE).read_text())
    assert shipped == config_schema()
    jsonschema.Draft202012Validator.check_schema(shipped)
    data = yaml.safe_load((REPO / "integration-sync.yaml").read_text())
    jsonschema.Draft202012Validator(shipped).validate(data)
    # editors complete the repository's own config too, as they do one that init writes
    modeline = (REPO / "integration-sync.yaml").read_text().splitlines()[0]
    assert modeline == f"# yaml-language-server: $schema=schemas/{CONFIG_SCHEMA_FILE}"
    # every field of the dataclasses is a key of the schema, and the defaults agree
    settings = shipped["properties"]["settings"]["properties"]
    assert {k: v["default"] for k, v in settings.items()} == Settings().__dict__
    safety = shipped["$defs"]["safety"]["properties"]
    assert {k: v["default"] for k, v in safety.items()} == Safety().__dict__
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"schemas/{CONFIG_SCHEMA_FILE}" = "integration_sync/_schemas/{CONFIG_SCHEMA_FILE}"' in pyproject


@pytest.mark.slow
def test_tenant_names_on_the_command_line_match_case_insensitively_with_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _repo(
        tmp_path,
        "tenants:\n  - {name: Acme, url: 'emulator:acme'}\n  - {name: globex, url: 'emulator:globex'}\n",
    )
    monkeypatch.chdir(root)
    r = run_cli(capsys, "plan", "--tenant", "ACME", "--format", "json")
    assert r.code == 0, r.err
    assert [t["name"] for t in json.loads(r.out)["tenants"]] == ["Acme"]
    r = run_cli(capsys, "plan", "--exclude-tenant", "GLOBEX", "--format", "json")
    assert r.code == 0, r.err
    assert [t["name"] for t in json.loads(r.out)["tenants"]] == ["Acme"]
    r = run_cli(capsys, "plan", "--tenant", "acmee")
    assert r.code == 1 and "unknown tenant 'acmee' (did you mean Acme?)" in r.err
    r = run_cli(capsys, "plan", "--exclude-tenant", "globx")
    assert r.code == 1 and "did you mean globex?" in r.err


def test_did_you_mean_for_a_tenant_compares_case_insensitively_as_names_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nearest name is found as names are matched, case-insensitively: on the command line of every
    command that selects tenants, and in a definition's sync.tenants."""
    root = _repo(
        tmp_path,
        "tenants:\n  - {name: Other, url: 'emulator:other'}\n  - {name: third, url: 'emulator:third'}\n",
    )
    monkeypatch.chdir(root)
    for command in (["plan"], ["apply", "--auto-approve"], ["doctor"], ["import"]):
        for typed in ("othr", "OTHRE"):
            r = run_cli(capsys, *command, "--tenant", typed)
            assert r.code == 1 and f"unknown tenant '{typed}' (did you mean Other?)" in r.err, (
                command,
                r.err,
            )
    (root / "definitions" / "a.yaml").write_text(
        "name: A\ndirection: Inbound\nentity: Invoice\nconsent_type: None\nsync:\n  tenants: [THRID]\n"
    )
    r = run_cli(capsys, "validate")
    assert r.code == 1 and "unknown tenant 'THRID' (did you mean third?)" in r.out, r.out


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_doctor_finds_the_config_from_a_subfolder_as_the_other_commands_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """doctor reads the repository's config from any folder of it (not the defaults of the folder it
    runs in), and the embedded tenant's state stays beside that config."""
    root = _repo(tmp_path, "tenants:\n  - {name: deep, url: 'emulator:deep'}\n")
    sub = root / "definitions" / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    r = run_cli(capsys, "doctor", "-v", "--tenant", "DEEP")
    assert r.code == 0, r.err
    assert "using the config" in r.err and "using the defaults" not in r.err
    assert "Doctor: nothing blocking in 1 tenant." in r.out
    assert not (sub / ".integration-sync").exists() and (root / ".integration-sync").is_dir()


def test_every_yaml_mistake_of_the_config_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Duplicate keys and tags in the config: one line each, in file order, exit 1, no traceback."""
    text = (
        "definitions: definitions\n"
        "definitions: other\n"
        "tenants:\n"
        "  - name: a\n"
        "    url: emulator:a\n"
        "    name: b\n"
        "settings: !!python/object {}\n"
    )
    monkeypatch.chdir(_repo(tmp_path, text))
    r = run_cli(capsys, "plan")
    assert r.code == 1 and "Traceback" not in r.err
    lines = r.err.splitlines()
    assert [line.split(":")[2:4] for line in lines] == [["2", "1"], ["6", "5"], ["7", "11"]], lines
    assert "duplicate key 'definitions'" in lines[0] and "duplicate key 'name'" in lines[1]
    assert "unsupported YAML tag" in lines[2]
