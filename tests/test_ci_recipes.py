"""The CI recipes under docs/ci/ are real files: they match the GitHub and GitLab schemas, and their
integration-sync commands run as written, in bash, against emulator tenants.

Steps that need the hosting service (``uses:`` actions, ``gh``, installing the tool) are not run; the
GitLab glue script runs against a small stand-in for GitLab's API on loopback.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ruamel.yaml import YAML

from integration_sync.selection import shard_of

pytestmark = pytest.mark.slow  # each test runs the CLI or a server end to end

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / "docs" / "ci" / "github"
GITLAB = ROOT / "docs" / "ci" / "gitlab"
GITLAB_CI = GITLAB / ".gitlab-ci.yml"
GLUE = GITLAB / "integration_sync_gitlab.py"
TENANTS = ("local", "beta", "gamma")
SHARDS = 2
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))  # YAML 1.2: `on:` stays a string


def _vendored_schema(name: str) -> dict[str, Any]:
    pytest.importorskip("check_jsonschema")
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath(name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sorted(GITHUB.glob("*.yml")), ids=lambda p: p.name)
def test_github_workflows_match_the_workflow_schema(path: Path) -> None:
    jsonschema.Draft7Validator(_vendored_schema("github-workflows.json")).validate(_load(path))


def test_gitlab_pipeline_matches_the_gitlab_ci_schema() -> None:
    jsonschema.Draft7Validator(_vendored_schema("gitlab-ci.json")).validate(_load(GITLAB_CI))


def test_ci_md_shows_exactly_the_recipe_files() -> None:
    doc = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    for path in [*GITHUB.glob("*.yml"), GITLAB_CI, GLUE]:
        text = path.read_text(encoding="utf-8").rstrip("\n")
        assert text in doc, f"docs/ci.md is out of date with {path.relative_to(ROOT)}"


# --- running the recipes --------------------------------------------------------------------------


@pytest.fixture
def project(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A definitions repository (the repo's own definitions) whose tenants live in the emulator."""
    tenants = []
    for name in TENANTS:
        emulator.add_tenant(name)
        tenants.append(
            {
                "name": name,
                "url": emulator.tenant_url(name),
                "vars": {"xero_system_id": 7, "hubspot_system_id": 12},
            }
        )
    (tmp_path / "integration-sync.yaml").write_text(
        yaml.safe_dump({"definitions": "definitions", "tenants": tenants}), encoding="utf-8"
    )
    shutil.copytree(ROOT / "definitions", tmp_path / "definitions")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _environ(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_", "GITLAB_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


def _bash(script: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=_environ(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _runnable(script: str) -> bool:
    return "integration-sync" in script and "pip install" not in script and not re.search(r"\bgh ", script)


class GitHubJob:
    """One job of a workflow, run the way the runner would: env merged, expressions filled in."""

    def __init__(self, path: Path, job: str, expressions: Mapping[str, str]):
        workflow = _load(path)
        self.spec = workflow["jobs"][job]
        self.env = {**workflow.get("env", {}), **self.spec.get("env", {})}
        self.expressions = expressions

    def _fill(self, value: Any) -> str:
        return _EXPR.sub(lambda m: self.expressions[m.group(1)], str(value))

    def run(self, name: str, cwd: Path, summary: Path | None = None) -> subprocess.CompletedProcess[str]:
        (step,) = [s for s in self.spec["steps"] if s.get("name") == name]
        env = {k: self._fill(v) for k, v in {**self.env, **step.get("env", {})}.items()}
        if summary is not None:
            env["GITHUB_STEP_SUMMARY"] = str(summary)
        return _bash(self._fill(step["run"]), cwd, env)


def _github_expressions(shard: int) -> dict[str, str]:
    return {
        "matrix.shard": str(shard),
        "strategy.job-total": str(SHARDS),
        "secrets.FK_TOKEN_ACME": "",
        "github.event.pull_request.head.sha": "0123abcd",
        "github.server_url": "https://github.example",
        "github.repository": "owner/definitions",
        "github.run_id": "42",
        "needs.plan.result": "success",
    }


#: The steps each test below runs; every step that calls integration-sync (not an install, not gh) is one.
EXERCISED = {
    ("integration-sync-plan.yml", "validate"): {"Validate", "Check formatting"},
    ("integration-sync-plan.yml", "plan"): {"Plan"},
    ("integration-sync-plan.yml", "comment"): {"Build the comment"},
    ("integration-sync-apply.yml", "apply"): {"Apply the saved plans"},
    ("integration-sync-drift.yml", "drift"): {"Detect drift"},
}


def test_every_step_that_runs_the_tool_is_exercised() -> None:
    found: dict[tuple[str, str], set[str]] = {}
    for path in sorted(GITHUB.glob("*.yml")):
        for job, spec in _load(path)["jobs"].items():
            steps = {s["name"] for s in spec["steps"] if "run" in s and _runnable(s["run"])}
            if steps:
                found[(path.name, job)] = steps
    assert found == EXERCISED


def _tenants_in(plan_file: Path) -> list[str]:
    return [t["name"] for t in json.loads(plan_file.read_text())["tenants"]]


MARKER = "<!-- integration-sync-plan -->"
#: What the comment job writes above the plan, with the expressions of ``_github_expressions``.
COMMENT_HEAD = (
    f"{MARKER}\n"
    "#### integration-sync plan for 0123abcd "
    "([run](https://github.example/owner/definitions/actions/runs/42))\n\n"
)


def _summary_of_shards(plan_files: list[Path]) -> str:
    """The summary line of the whole fleet, added up from each shard's own ``summary``."""
    total: Counter[str] = Counter()
    for f in plan_files:
        total.update(json.loads(f.read_text())["summary"])
    return (
        f"**Plan: {total['create']} to create, {total['update']} to update, {total['rename']} to rename, "
        f"{total['delete']} to delete, in {total['tenants_with_changes']} of {total['tenants']} tenants.**"
    )


def _assert_one_plan_of_the_shards(markdown: str, plan_files: list[Path]) -> None:
    """``markdown`` is ``show`` of every shard's plan file: one table and one summary line for all of
    them, not one per shard."""
    shown = _bash(f"integration-sync show {' '.join(map(str, plan_files))} --format markdown", ROOT, {})
    assert shown.returncode == 0, shown.stderr
    assert markdown == shown.stdout
    assert markdown.count("| Tenant |") == 1 and markdown.count("## integration-sync plan") == 1
    assert [line for line in markdown.splitlines() if line.startswith("**Plan:")] == [
        _summary_of_shards(plan_files)
    ]


def test_github_recipes_run_against_the_emulator(project: Path) -> None:
    pr = GITHUB / "integration-sync-plan.yml"
    validate = GitHubJob(pr, "validate", _github_expressions(1))
    for name in ("Validate", "Check formatting"):
        out = validate.run(name, project)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "::error" not in out.stdout

    planned: list[str] = []
    for k in range(1, SHARDS + 1):
        summary = project / f"summary-{k}.md"
        out = GitHubJob(pr, "plan", _github_expressions(k)).run("Plan", project, summary)
        assert out.returncode == 0, out.stdout + out.stderr
        assert (project / f"plan-{k}.md").read_text() == out.stdout
        planned += _tenants_in(project / f"plan-{k}.json")
        expected = [t for t in TENANTS if shard_of(t, SHARDS) == k]
        assert sorted(_tenants_in(project / f"plan-{k}.json")) == sorted(expected)
        if expected:
            assert "| Tenant |" in summary.read_text()
    assert sorted(planned) == sorted(TENANTS)  # every tenant in exactly one shard

    comment = GitHubJob(pr, "comment", _github_expressions(1))
    out = comment.run("Build the comment", project)
    assert out.returncode == 0, out.stderr
    body = (project / "comment.md").read_text()
    assert body.startswith(COMMENT_HEAD)
    _assert_one_plan_of_the_shards(
        body.removeprefix(COMMENT_HEAD), [project / f"plan-{k}.json" for k in range(1, SHARDS + 1)]
    )

    drift = GITHUB / "integration-sync-drift.yml"
    for k in range(1, SHARDS + 1):
        out = GitHubJob(drift, "drift", _github_expressions(k)).run("Detect drift", project)
        has_tenants = bool(_tenants_in(project / f"plan-{k}.json"))
        assert out.returncode == (2 if has_tenants else 0), out.stdout + out.stderr
        assert ("::error title=Drift::" in out.stdout) == has_tenants


def test_the_comment_says_when_there_is_no_plan_of_the_shards_to_show(project: Path) -> None:
    """The comment is always rewritten, so that an older plan never stays up as the current one: no plan
    file (the plan jobs were skipped or failed early), or files that are not the shards of one run."""
    pr = GITHUB / "integration-sync-plan.yml"
    failed = {**_github_expressions(1), "needs.plan.result": "failure"}
    out = GitHubJob(pr, "comment", failed).run("Build the comment", project)
    assert out.returncode == 0, out.stdout + out.stderr
    body = (project / "comment.md").read_text()
    assert body.startswith(COMMENT_HEAD) and "| Tenant |" not in body
    assert "Not every plan job succeeded (failure)" in body and "No plan to show" in body

    for k in range(1, SHARDS + 1):
        out = GitHubJob(pr, "plan", _github_expressions(k)).run("Plan", project)
        assert out.returncode == 0, out.stdout + out.stderr
    full = next(k for k in range(1, SHARDS + 1) if _tenants_in(project / f"plan-{k}.json"))
    shutil.copy(project / f"plan-{full}.json", project / "plan-9.json")  # the same tenants twice
    out = GitHubJob(pr, "comment", _github_expressions(1)).run("Build the comment", project)
    assert out.returncode == 0, out.stdout + out.stderr
    body = (project / "comment.md").read_text()
    assert "No plan to show" in body and "| Tenant |" not in body and "succeeded" not in body
    assert "plan-9.json" in out.stderr  # the reason, in the job's log


def test_github_apply_applies_the_saved_plans_then_no_drift(project: Path) -> None:
    pr = GITHUB / "integration-sync-plan.yml"
    for k in range(1, SHARDS + 1):
        assert GitHubJob(pr, "plan", _github_expressions(k)).run("Plan", project).returncode == 0
        (project / "plans" / f"plan-{k}").mkdir(parents=True)  # what `gh run download --dir plans` makes
        shutil.move(project / f"plan-{k}.json", project / "plans" / f"plan-{k}" / f"plan-{k}.json")
    out = GitHubJob(GITHUB / "integration-sync-apply.yml", "apply", _github_expressions(1)).run(
        "Apply the saved plans", project
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for k in range(1, SHARDS + 1):
        out = GitHubJob(GITHUB / "integration-sync-drift.yml", "drift", _github_expressions(k)).run(
            "Detect drift", project
        )
        assert out.returncode == 0, out.stdout + out.stderr


# --- GitLab ---------------------------------------------------------------------------------------


def _gitlab_job(name: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    job = _load(GITLAB_CI)[name]
    variables = {k: str(v) for k, v in _load(GITLAB_CI).get("variables", {}).items()}
    return _bash("\n".join(job["script"]), cwd, {**variables, **env})


class _FakeGitLab(BaseHTTPRequestHandler):
    """Just enough of GitLab's API v4 for the glue script: notes, MR pipelines, jobs, artifacts."""

    state: dict[str, Any]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, payload: Any, status: int = 200) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self) -> None:
        s = self.state
        assert self.headers["PRIVATE-TOKEN"] == "glpat-test"
        path = self.path.split("?")[0]
        if path.endswith("/notes"):
            page = int(re.search(r"[?&]page=(\d+)", self.path).group(1))  # type: ignore[union-attr]
            self._reply(s["notes"] if page == 1 else [])
        elif path.endswith("/merge_requests"):
            self._reply([{"iid": 5}])
        elif path.endswith("/merge_requests/5/pipelines"):
            self._reply(
                [
                    {"id": 70, "status": "success"},
                    {"id": 71, "status": "success"},
                    {"id": 72, "status": "failed"},
                ]
            )
        elif path.endswith("/pipelines/71/jobs"):
            self._reply(
                [{"id": 900 + k, "name": f"plan {k}/{SHARDS}"} for k in range(1, SHARDS + 1)]
                # The recipe's other jobs in the same pipeline; "plan note" keeps no artifacts (404).
                + [{"id": 1, "name": "validate"}, {"id": 2, "name": "plan note"}]
            )
        elif (m := re.search(r"/jobs/(\d+)/artifacts$", path)) and int(m.group(1)) in s["artifacts"]:
            self._reply(s["artifacts"][int(m.group(1))])
        else:
            self._reply({"message": "404 Not Found"}, 404)

    def do_POST(self) -> None:
        note = {"id": 300 + len(self.state["notes"]), "body": self._body()["body"]}
        self.state["notes"].append(note)
        self._reply(note, 201)

    def do_PUT(self) -> None:
        note_id = int(self.path.rsplit("/", 1)[1])
        for n in self.state["notes"]:
            if n["id"] == note_id:
                n["body"] = self._body()["body"]
        self._reply({"id": note_id})


@pytest.fixture
def fake_gitlab() -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"notes": [{"id": 1, "body": "LGTM"}], "artifacts": {}}
    handler = type("Handler", (_FakeGitLab,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v4", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _zip(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


def test_gitlab_recipe_runs_against_the_emulator(
    project: Path, fake_gitlab: tuple[str, dict[str, Any]]
) -> None:
    api, state = fake_gitlab
    out = _gitlab_job("validate", project, {})
    assert out.returncode == 0, out.stdout + out.stderr

    planned: list[str] = []
    for k in range(1, SHARDS + 1):
        out = _gitlab_job("plan", project, {"CI_NODE_INDEX": str(k), "CI_NODE_TOTAL": str(SHARDS)})
        assert out.returncode == 0, out.stdout + out.stderr
        planned += _tenants_in(project / f"plan-{k}.json")
        state["artifacts"][900 + k] = _zip(
            {f"plan-{k}.json": (project / f"plan-{k}.json").read_bytes(), f"plan-{k}.md": b"md"}
        )
    assert sorted(planned) == sorted(TENANTS)

    (project / ".gitlab").mkdir()
    shutil.copy(GLUE, project / ".gitlab" / GLUE.name)
    glue_env = {
        "CI_API_V4_URL": api,
        "CI_PROJECT_ID": "group/definitions",
        "CI_MERGE_REQUEST_IID": "5",
        "CI_COMMIT_SHA": "0123abcd",
        "GITLAB_TOKEN": "glpat-test",
    }
    for _ in range(2):  # the second run updates the same note
        out = _gitlab_job("plan note", project, glue_env)
        assert out.returncode == 0, out.stdout + out.stderr
    plan_notes = [n for n in state["notes"] if n["body"].startswith(MARKER)]
    assert len(plan_notes) == 1 and len(state["notes"]) == 2
    note_head = f"{MARKER}\n#### integration-sync plan\n\n"
    assert plan_notes[0]["body"].startswith(note_head)
    _assert_one_plan_of_the_shards(
        plan_notes[0]["body"].removeprefix(note_head),
        [project / f"plan-{k}.json" for k in range(1, SHARDS + 1)],
    )
    no_plans = project / "no-plans"  # every plan job failed before writing its plan
    shutil.copytree(project / ".gitlab", no_plans / ".gitlab")
    out = _gitlab_job("plan note", no_plans, glue_env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(state["notes"]) == 2 and "No plan to show" in plan_notes[0]["body"]

    for k in range(1, SHARDS + 1):
        out = _gitlab_job("drift", project, {"CI_NODE_INDEX": str(k), "CI_NODE_TOTAL": str(SHARDS)})
        assert out.returncode == (2 if _tenants_in(project / f"plan-{k}.json") else 0), (
            out.stdout + out.stderr
        )

    for k in range(1, SHARDS + 1):
        (project / f"plan-{k}.json").unlink()  # apply must use the downloaded plans
    out = _gitlab_job("apply", project, glue_env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(p.name for p in (project / "plans").iterdir()) == [
        f"plan-{k}.json" for k in range(1, SHARDS + 1)
    ]
    for k in range(1, SHARDS + 1):
        out = _gitlab_job("drift", project, {"CI_NODE_INDEX": str(k), "CI_NODE_TOTAL": str(SHARDS)})
        assert out.returncode == 0, out.stdout + out.stderr


def test_pre_commit_hooks_run_as_declared(project: Path) -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert {h["id"] for h in hooks} == {"integration-sync-validate", "integration-sync-fmt"}
    changed = sorted(str(p.relative_to(project)) for p in (project / "definitions").glob("*.yaml"))
    for hook in hooks:
        assert hook["language"] == "python"
        files = [f for f in [*changed, "integration-sync.yaml", "README.md"] if re.search(hook["files"], f)]
        assert set(changed) <= set(files) and "README.md" not in files
        args = [] if hook.get("pass_filenames", True) is False else files
        out = _bash(" ".join([hook["entry"], *args]), project, {})
        assert out.returncode == 0, out.stdout + out.stderr
    (project / "definitions" / "bank-statement-import.yaml").write_text(
        "entity: X\nname: Y\n", encoding="utf-8"
    )
    fmt_hook = next(h for h in hooks if h["id"] == "integration-sync-fmt")
    out = _bash(f"{fmt_hook['entry']} definitions/bank-statement-import.yaml", project, {})
    assert out.returncode == 1 and "bank-statement-import.yaml" in out.stdout


# --- a fleet --------------------------------------------------------------------------------------

FLEET = 200
FLEET_SHARDS = 4


@pytest.fixture
def fleet_project(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repo's definitions over 200 emulator tenants (``local``, which one definition names, and 199
    more)."""
    tenants = []
    for i in range(FLEET):
        name = f"client-{i:03d}" if i else "local"
        emulator.add_tenant(name)
        vars_ = {"xero_system_id": 7 + i % 3, "hubspot_system_id": 12}
        tenants.append({"name": name, "url": emulator.tenant_url(name), "vars": vars_})
    (tmp_path / "integration-sync.yaml").write_text(
        yaml.safe_dump({"definitions": "definitions", "tenants": tenants, "settings": {"parallelism": 32}}),
        encoding="utf-8",
    )
    shutil.copytree(ROOT / "definitions", tmp_path / "definitions")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _fleet_expressions(shard: int) -> dict[str, str]:
    return {**_github_expressions(shard), "strategy.job-total": str(FLEET_SHARDS)}


@pytest.mark.timeout(600)
def test_a_fleet_in_shards_is_planned_once_per_tenant_and_applied_shard_by_shard(
    fleet_project: Path, emulator: Any
) -> None:
    pr = GITHUB / "integration-sync-plan.yml"
    planned: list[str] = []
    for k in range(1, FLEET_SHARDS + 1):
        out = GitHubJob(pr, "plan", _fleet_expressions(k)).run("Plan", fleet_project)
        assert out.returncode == 0, out.stdout + out.stderr
        in_shard = _tenants_in(fleet_project / f"plan-{k}.json")
        assert in_shard, "200 tenants leave no shard of 4 empty"
        planned += in_shard
    assert len(planned) == FLEET and set(planned) == {"local", *(f"client-{i:03d}" for i in range(1, FLEET))}

    out = GitHubJob(pr, "comment", _fleet_expressions(1)).run("Build the comment", fleet_project)
    assert out.returncode == 0, out.stderr
    body = (fleet_project / "comment.md").read_text()
    assert body.startswith(COMMENT_HEAD) and len(body) <= 65_000
    plan_files = [fleet_project / f"plan-{k}.json" for k in range(1, FLEET_SHARDS + 1)]
    _assert_one_plan_of_the_shards(body.removeprefix(COMMENT_HEAD), plan_files)
    assert f"of {FLEET} tenants.**" in _summary_of_shards(plan_files)
    for name in planned:  # every tenant creates something here, so each has its row in the one table
        assert body.count(f"\n| {name} |") == 1, name

    for k in range(1, FLEET_SHARDS + 1):  # GitLab's parallel: N splits the same way
        out = _gitlab_job(
            "plan", fleet_project, {"CI_NODE_INDEX": str(k), "CI_NODE_TOTAL": str(FLEET_SHARDS)}
        )
        assert out.returncode == 0, out.stdout + out.stderr
        expected = sorted(t for t in planned if shard_of(t, FLEET_SHARDS) == k)
        assert sorted(_tenants_in(fleet_project / f"plan-{k}.json")) == expected

    for k in range(1, FLEET_SHARDS + 1):
        (fleet_project / "plans" / f"plan-{k}").mkdir(parents=True)  # as `gh run download --dir plans`
        shutil.move(
            fleet_project / f"plan-{k}.json", fleet_project / "plans" / f"plan-{k}" / f"plan-{k}.json"
        )
    for name in planned:
        emulator.emulator.clear_requests(name)
    out = GitHubJob(GITHUB / "integration-sync-apply.yml", "apply", _fleet_expressions(1)).run(
        "Apply the saved plans", fleet_project
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("::group::integration-sync apply") == FLEET_SHARDS
    for name in planned:  # applied once: one list before the writes, then each create once
        log = emulator.requests(name)
        assert sum(1 for r in log if r["method"] == "GET" and r["path"].endswith("/Integrations")) == 1
        posts = [r["body"]["Name"] for r in log if r["method"] == "POST"]
        assert posts and len(posts) == len(set(posts))
    for k in range(1, FLEET_SHARDS + 1):
        out = GitHubJob(GITHUB / "integration-sync-drift.yml", "drift", _fleet_expressions(k)).run(
            "Detect drift", fleet_project
        )
        assert out.returncode == 0, out.stdout + out.stderr
