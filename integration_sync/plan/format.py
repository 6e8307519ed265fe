"""The plan file's format, checked strictly on reading: its version, its shape against
``schemas/plan.schema.json``, how deep it may nest, and typed readers that name where a value is wrong."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from integration_sync.errors import PlanFileError
from integration_sync.fields import UNSET
from integration_sync.plan.values import SCALARS

if TYPE_CHECKING:
    from integration_sync.plan.model import TenantPlan

FORMAT_VERSION: Final = 2


#: How deep a plan file may nest: a plan is 8 levels deep around the values it holds.
MAX_DEPTH: Final = 64


def fits_a_plan_file(tenant: TenantPlan) -> bool:
    """Whether a plan file can hold ``tenant``'s plan: ``load_plan`` refuses a file nested more than
    ``MAX_DEPTH`` deep, and a tenant sits two levels down (a live value may nest far deeper). Only a
    value can nest: when every value of every change is a plain scalar (the usual case), it fits."""
    if all(_plain(v) for change in tenant.changes for v in _values(change)):
        return True
    return not too_deep(tenant.to_dict(), MAX_DEPTH - 2)


def _values(change: Any) -> Iterator[Any]:
    """Every field value a change holds: its body and ``before`` snapshot, its field changes."""
    for pairs in (getattr(change, "body", ()), getattr(change, "before", ())):
        for _key, value in pairs:
            yield value
    for fc in getattr(change, "fields", ()):
        yield fc.before
        yield fc.after


def _plain(value: Any) -> bool:
    return value is UNSET or type(value) in SCALARS


def too_deep(data: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def check_version(version: Any) -> None:
    """Refuse any ``format_version`` but this one, type-strictly (``true`` and ``2.0`` are not ``2``);
    an older one says to plan again."""
    if type(version) is int and version == FORMAT_VERSION:
        return
    if type(version) is int and 0 < version < FORMAT_VERSION:
        raise PlanFileError(
            f"plan format_version {version} was written by an older integration-sync and is not supported: "
            "make a new plan (integration-sync plan --out FILE) and apply that"
        )
    raise PlanFileError(
        f"plan format_version {json.dumps(version)[:40]} is not supported: this integration-sync reads "
        f"format_version {FORMAT_VERSION} (an integer); make a new plan with this version"
    )


#: The JSON Schema of the plan format, at the top of the repository for readers in other languages; the
#: wheel carries a copy (``integration_sync/_schemas``, see pyproject.toml).
PLAN_SCHEMA_FILE: Final = "plan.schema.json"


@functools.cache
def plan_schema() -> dict[str, Any]:
    from importlib import resources

    packaged = resources.files("integration_sync").joinpath("_schemas", PLAN_SCHEMA_FILE)
    if packaged.is_file():
        text = packaged.read_text(encoding="utf-8")
    else:  # a source checkout
        text = (Path(__file__).resolve().parent.parent.parent / "schemas" / PLAN_SCHEMA_FILE).read_text(
            encoding="utf-8"
        )
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
@functools.cache
def _fast_plan_check() -> Callable[[Any], bool] | None:
    """The plan schema compiled to one predicate (``schemacheck.compile_schema``): true when the plan
    has the schema's shape. A plan of 10,000 tenants is checked in a fraction of jsonschema's time."""
    from integration_sync.schemacheck import fast_check

    return fast_check(plan_schema())


def _plan_validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(plan_schema())


def check_shape(data: Any) -> None:
    """The plan's shape against its JSON Schema: the first problem (by position in the file), located."""
    from jsonschema.exceptions import best_match

    fast = _fast_plan_check()
    if fast is not None and fast(data):  # the usual case, at C-like speed; jsonschema words a problem
        return
    errors_ = list(_plan_validator().iter_errors(data))
    if not errors_:
        return
    error = best_match(errors_)
    where = "plan" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
    raise PlanFileError(f"{where}: {message}")


def as_object(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise PlanFileError(f"{where}: expected an object, got {type(data).__name__}")
    return data


def as_list(data: Any, where: str) -> Sequence[Any]:
    if not isinstance(data, list):
        raise PlanFileError(f"{where}: expected a list, got {type(data).__name__}")
    return data


def required(d: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise PlanFileError(f"{where}: missing {key!r}")
    return d[key]


def string(d: Mapping[str, Any], key: str, where: str) -> str:
    value = required(d, key, where)
    if not isinstance(value, str):
        raise PlanFileError(f"{where}.{key}: expected a string, got {value!r}")
    return value


def integer(d: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    if key not in d and default is not None:
        return default
    value = required(d, key, where)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PlanFileError(f"{where}.{key}: expected an integer, got {value!r}")
    return value


def number(d: Mapping[str, Any], key: str, where: str) -> float:
    value = required(d, key, where)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise PlanFileError(f"{where}.{key}: expected a number, got {value!r}")
    return float(value)
