"""Per-tenant resolution (desired_for), load_valid, and the renderers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from integration_sync.config import Config, TenantConfig
from integration_sync.diagnostics import Diagnostic
from integration_sync.errors import DefinitionError
from integration_sync.loader import Definition, load_definitions
from integration_sync.render.diagnostics import render
from integration_sync.resolve import desired_for, selects
from integration_sync.validate import InvalidDefinitions, Report, load_valid, validate

BASE = "direction: Outbound\nentity: Invoice\nconsent_type: OAuth\n"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files are shown relative to the working directory


def _config(tmp_path: Path) -> Config:
    return Config(
        path=tmp_path / "integration-sync.yaml",
        root=tmp_path,
        definitions=tmp_path / "defs",
        tenants=(
            TenantConfig("local", "emulator:local", vars={"sys": 7, "label": "L", "flag": True}),
            TenantConfig("acme", "https://a.example/OData/", tags=("uk",), vars={"sys": 31, "label": "A"}),
        ),
    )


def _defs(tmp_path: Path, **files: str) -> list[Definition]:
    folder = tmp_path / "defs"
    folder.mkdir(exist_ok=True)
    out: list[Definition] = []
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
        defs, diags = load_definitions(folder / f"{name}.yaml", f"defs/{name}.yaml")
        assert diags == []
        out.extend(defs)
    return out


def test_desired_resolves_variables_with_their_types_and_drops_sync(tmp_path: Path) -> None:
    config = _config(tmp_path)
    defs = _defs(
        tmp_path,
        x=(
            "name: X ${label}\n" + BASE + "system_id: ${sys}\nnotes: id $${sys} is ${sys}\nfilter: null\n"
            "sync:\n  previous_names: [Old X]\n  ignore_changes: [notes]\n"
        ),
    )
    [local] = desired_for(defs, config.tenant("local"))
    assert local.name == "X L"
    assert local.doc == {
        "name": "X L",
        "direction": "Outbound",
        "entity": "Invoice",
        "consent_type": "OAuth",
        "system_id": 7,
        "notes": "id ${sys} is 7",
        "filter": None,
    }
    assert "max_attempts" not in local.doc  # left out: unmanaged
    assert local.previous_names == ("Old X",)
    assert local.ignore_changes == ("notes",)
    assert local.source == "defs/x.yaml:1"
    [acme] = desired_for(defs, config.tenant("acme"))
    assert (acme.name, acme.doc["system_id"]) == ("X A", 31)
    assert defs[0].data["system_id"] == "${sys}"  # the loaded definition is not changed


def test_a_dollar_brace_that_is_no_variable_is_an_error_at_its_column(tmp_path: Path) -> None:
    """``${ sys }`` (spaces), ``${}``, ``${a-b}`` or an unclosed ``${sys`` would otherwise reach every
    tenant as literal text; ``$${`` is the escape for a literal ``${``."""
    config = _config(tmp_path)
    _defs(
        tmp_path,
        x="name: X\n"
        + BASE
        + "notes: ok $${ literal } then ${ sys }\nelement_id: '${}'\nfilter: |\n  A == \"${sys\"\n",
    )
    found = [(d.line, d.col, d.rule, d.message.split(":")[0]) for d in validate(config).errors]
    assert found == [
        (5, 30, "bad-placeholder", "notes"),
        (6, 14, "bad-placeholder", "element_id"),
        (8, 9, "bad-placeholder", "filter"),
    ]
    assert "placeholder '${ sys }' is not a variable" in validate(config).errors[0].message


def test_names_that_clash_only_once_a_tenants_variables_are_in_are_duplicates(tmp_path: Path) -> None:
    """``X ${label}`` is "X L" for tenant local: a definition named "x l" clashes there (plan created
    both and apply failed on the second), but not for tenant acme ("X A")."""
    config = _config(tmp_path)
    _defs(
        tmp_path,
        a="name: X ${label}\n" + BASE,
        b="name: x l\n" + BASE,
        c="name: X A\n" + BASE + "sync:\n  tenants: [local]\n",  # acme's "X A", but c is not for acme
    )
    found = sorted((d.file, d.line, d.col, d.rule, d.message) for d in validate(config).errors)
    assert found == [
        (
            "defs/a.yaml",
            1,
            7,
            "duplicate-name",
            "name: 'X ${label}' is 'X L' for tenant local, also the name of the definition at defs/b.yaml:1"
            " (names compare case-insensitively)",
        ),
        (
            "defs/b.yaml",
            1,
            7,
            "duplicate-name",
            "name: 'x l' is also the name of the definition at defs/a.yaml:1 for tenant local, once its"
            " variables are replaced (names compare case-insensitively)",
        ),
    ]


def test_previous_names_take_the_tenants_variables_like_the_name(tmp_path: Path) -> None:
    """A templated name renamed (``X ${label}`` -> ``X ${label} v2``) names its old name the same way;
    before, the old name was looked for literally ("Old ${label}") and the rename became a create."""
    config = _config(tmp_path)
    defs = _defs(tmp_path, x="name: X ${label} v2\n" + BASE + 'sync:\n  previous_names: ["X ${label}"]\n')
    [local] = desired_for(defs, config.tenant("local"))
    [acme] = desired_for(defs, config.tenant("acme"))
    assert (local.previous_names, acme.previous_names) == (("X L",), ("X A",))
    _defs(tmp_path, y="name: Y\n" + BASE + "sync:\n  previous_names:\n    - Y ${flag}\n    - Z ${ x }\n")
    found = sorted((d.line, d.col, d.rule, d.message) for d in validate(config).errors)
    assert [f[:3] for f in found] == [(7, 7, "undefined-variable"), (8, 9, "bad-placeholder")]
    assert "tenant acme: variable 'flag'" in found[0][3]


def test_dollar_dollar_brace_is_a_literal_dollar_brace_whatever_follows(tmp_path: Path) -> None:
    config = _config(tmp_path)
    defs = _defs(tmp_path, x="name: X\n" + BASE + "notes: $${ x } $${} $$${sys} ${sys}\n")
    [local] = desired_for(defs, config.tenant("local"))
    assert local.doc["notes"] == "${ x } ${} $${sys} 7"


def test_selectors_star_names_and_tags(tmp_path: Path) -> None:
    config = _config(tmp_path)
    defs = _defs(
        tmp_path,
        a="name: A\n" + BASE,
        b="name: B\n" + BASE + "sync:\n  tenants: [LOCAL]\n",
        c="name: C\n" + BASE + "sync:\n  tenants: ['tag:uk']\n",
    )
    local, acme = config.tenant("local"), config.tenant("acme")
    assert [d.name for d in desired_for(defs, local)] == ["A", "B"]
    assert [d.name for d in desired_for(defs, acme)] == ["A", "C"]
    assert not selects(defs[2], local)


def test_desired_for_raises_located_error_for_a_missing_variable(tmp_path: Path) -> None:
    config = _config(tmp_path)
    defs = _defs(tmp_path, x="name: X\n" + BASE + "schedule_id: ${flag}\nelement_id: ${flag}\n")
    desired_for(defs, config.tenant("local"))
    with pytest.raises(DefinitionError) as err:
        desired_for(defs, config.tenant("acme"))
    assert str(err.value).startswith("defs/x.yaml:5:14: schedule_id: tenant acme: variable 'flag'")


def test_validation_reports_the_tenant_whose_value_is_wrong(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _defs(tmp_path, x="name: X\n" + BASE + "max_attempts: ${flag}\n")
    report = validate(config)
    messages = sorted(d.message for d in report.errors)
    assert messages == [
        "tenant acme: variable 'flag' is not defined in its vars (defined: label, sys)",
        "tenant local: max_attempts: true is not of type 'integer'"
        " (the value of ${flag}, from the tenant's vars in the config)",
    ]


def test_load_valid_returns_definitions_or_raises_with_the_report(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _defs(tmp_path, a="name: A\n" + BASE, b="name: B\n" + BASE + "batch_size: 0\nmax_attempts: 0\n")
    with pytest.raises(InvalidDefinitions) as err:
        load_valid(config)
    assert len(err.value.report.errors) == 2
    assert str(err.value).startswith("defs/b.yaml:5:13: batch_size: 0 is less than the minimum of 1")
    assert "and 1 more error" in str(err.value)
    (tmp_path / "defs" / "b.yaml").unlink()
    assert [d.name for d in load_valid(config)] == ["A"]


def test_filter_issues_are_mapped_into_the_file(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _defs(tmp_path, x="name: X\n" + BASE + "filter: '  '\n")
    [d] = validate(config).errors
    assert (d.file, d.line, d.rule) == ("defs/x.yaml", 5, "filter-syntax")
    assert d.message.startswith("filter: ")


def test_names_are_only_duplicates_when_a_tenant_gets_both(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _defs(
        tmp_path,
        a="name: Same\n" + BASE + "sync:\n  tenants: [local]\n",
        b="name: SAME\n" + BASE + "sync:\n  tenants: [acme]\n",
    )
    assert validate(config).diagnostics == []
    (tmp_path / "defs" / "c.yaml").write_text("name: same\n" + BASE, encoding="utf-8")
    report = validate(config)
    assert sorted((d.file, d.rule) for d in report.errors) == [
        ("defs/a.yaml", "duplicate-name"),
        ("defs/b.yaml", "duplicate-name"),
        ("defs/c.yaml", "duplicate-name"),
    ]


def test_two_definitions_claiming_one_previous_name(tmp_path: Path) -> None:
    config = _config(tmp_path)
    prev = "sync:\n  previous_names: [Old]\n"
    _defs(tmp_path, a="name: A\n" + BASE + prev, b="name: B\n" + BASE + prev)
    report = validate(config)
    assert [(d.file, d.line, d.rule) for d in report.errors] == [
        ("defs/a.yaml", 6, "previous-name-clash"),
        ("defs/b.yaml", 6, "previous-name-clash"),
    ]
    assert "also a previous name of the definition at defs/b.yaml:1" in report.errors[0].message


def _report() -> Report:
    return Report(
        diagnostics=[
            Diagnostic("d/a,b.yaml", 3, 5, "$.x", "bad: 100%\nreally", "some-rule"),
            Diagnostic("d/c.yaml", 1, 1, "$", "soft", "soft-rule", "warning"),
        ],
        files=2,
    )


def test_renderers() -> None:
    report = _report()
    assert render(report, "text").splitlines() == [
        "d/a,b.yaml:3:5: error: bad: 100%",
        "really [some-rule]",
        "d/c.yaml:1:1: warning: soft [soft-rule]",
        "invalid: 1 error, 1 warning (0 definitions in 2 files)",
    ]
    github = render(report, "github").splitlines()
    assert github[0] == "::error file=d/a%2Cb.yaml,line=3,col=5,title=some-rule::bad: 100%25%0Areally"
    assert github[1] == "::warning file=d/c.yaml,line=1,col=1,title=soft-rule::soft"
    data = json.loads(render(report, "json"))
    assert (data["valid"], data["errors"], data["warnings"]) == (False, 1, 1)
    assert data["diagnostics"][0]["json_path"] == "$.x"


def test_renderers_say_when_there_is_nothing_wrong() -> None:
    empty = Report(files=3)
    assert render(empty, "text") == "ok: 0 definitions in 3 files, no problems\n"
    assert json.loads(render(empty, "json"))["valid"] is True
    assert render(empty, "github") == "ok: 0 definitions in 3 files, no problems\n"


def test_validate_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    import gc

    config = _config(tmp_path)
    _defs(tmp_path, a="name: A\n" + BASE)
    assert gc.isenabled()
    validate(config)
    assert gc.isenabled()
    gc.disable()
    try:
        validate(config)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _defs(tmp_path, a="name: A\n" + BASE)
    report = validate(config, [tmp_path / "defs", tmp_path / "defs" / "a.yaml", Path("defs/a.yaml")])
    assert report.files == 1
    assert report.diagnostics == []


def _fleet(tmp_path: Path, count: int) -> Config:
    """``count`` tenants over three regions, every fourth also tagged ``big``."""
    regions = ["UK", "DE", "FR"]
    tenants = tuple(
        TenantConfig(
            f"t{i:04d}",
            f"https://t{i}.example/OData/",
            tags=("big",) if i % 4 == 0 else (),
            vars={"region": regions[i % 3], "sys": 7},
        )
        for i in range(count)
    )
    return Config(
        path=tmp_path / "integration-sync.yaml", root=tmp_path, definitions=tmp_path / "defs", tenants=tenants
    )


def test_a_fleet_resolves_each_definition_once_per_distinct_set_of_its_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import integration_sync.resolve as resolve

    config = _fleet(tmp_path, 300)
    defs = _defs(
        tmp_path,
        plain=f"name: Plain\n{BASE}",
        regional=f"name: Export ${{region}}\n{BASE}system_id: ${{sys}}\n",
        shared=f"name: Shared\n{BASE}system_id: ${{sys}}\n",
        big=f"name: Big ${{region}}\n{BASE}sync:\n  tenants: ['tag:big', t0001]\n",
    )
    calls: list[str] = []
    real = resolve.resolve_doc

    def counting(data: dict[str, Any], tenant: TenantConfig) -> Any:
        calls.append(str(data["name"]))
        return real(data, tenant)

    monkeypatch.setattr(resolve, "resolve_doc", counting)
    desired = resolve.desired_for_each(defs, config.tenants)
    # Plain and Shared: one set of values for all; Export and Big: one per region.
    assert sorted(calls) == sorted(["Plain", "Shared", *["Export ${region}"] * 3, *["Big ${region}"] * 3])
    monkeypatch.setattr(resolve, "resolve_doc", real)
    for tenant in config.tenants:  # and each tenant gets what it would get alone
        assert desired[tenant.name] == resolve.desired_for(defs, tenant)
    assert [d.name for d in desired["t0001"]] == ["Big DE", "Export DE", "Plain", "Shared"]
    assert [d.name for d in desired["t0002"]] == ["Export FR", "Plain", "Shared"]
    assert desired["t0002"] is desired["t0005"]  # same definitions, same values: one list


def test_a_variable_one_tenant_lacks_is_still_its_error_not_another_tenants(tmp_path: Path) -> None:
    base = _fleet(tmp_path, 3)
    lacking = TenantConfig("bare", "https://bare.example/OData/", vars={"sys": 7})
    config = Config(
        path=base.path, root=base.root, definitions=base.definitions, tenants=(*base.tenants, lacking)
    )
    defs = _defs(tmp_path, regional=f"name: Export ${{region}}\n{BASE}")
    with pytest.raises(DefinitionError, match="tenant bare: variable 'region' is not defined"):
        from integration_sync.resolve import desired_for_each

        desired_for_each(defs, config.tenants)


def test_validation_checks_each_distinct_resolved_document_once_and_names_its_tenants_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import integration_sync.validate as validation

    attempts = [0, 3, 0]  # by region: UK and FR break minimum 1, DE does not
    tenants = tuple(
        TenantConfig(
            f"t{i}",
            f"https://t{i}.example/OData/",
            vars={"region": ["UK", "DE", "FR"][i % 3], "n": attempts[i % 3]},
        )
        for i in range(7)
    )
    config = Config(path=tmp_path / "c.yaml", root=tmp_path, definitions=tmp_path / "defs", tenants=tenants)
    _defs(tmp_path, x=f"name: X\n{BASE}max_attempts: ${{n}}\nnotes: ${{region}}\n")
    checked: list[Any] = []
    real = validation.doc_findings

    def counting(d: Any, doc: dict[str, Any], published: bool, skip: Any) -> Any:
        checked.append((doc["max_attempts"], doc["notes"]))
        return real(d, doc, published, skip)

    monkeypatch.setattr(validation, "doc_findings", counting)
    report = validate(config)
    assert sorted(checked) == [(0, "FR"), (0, "UK"), (3, "DE")]
    [error] = report.errors
    assert error.message.startswith(
        "tenant t0, t2, t3, t5, t6: max_attempts: 0 is less than the minimum of 1"
    )
