"""GitLab glue for the integration-sync recipe (docs/ci/gitlab/.gitlab-ci.yml). Standard library only.

    python integration_sync_gitlab.py note plan.md       # create or update the ONE plan note of the MR
    python integration_sync_gitlab.py fetch-plans DIR    # on the default branch: the merged MR's plans

Reads GitLab's predefined variables (CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID, CI_COMMIT_SHA)
and GITLAB_TOKEN, a project access token with the api scope. The token is sent to CI_API_V4_URL only.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

MARKER = "<!-- integration-sync-plan -->"
MAX_NOTE = 60_000


def _api(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = os.environ["CI_API_V4_URL"].rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("PRIVATE-TOKEN", os.environ["GITLAB_TOKEN"])
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as reply:
        raw = reply.read()
    return raw if path.endswith("/artifacts") else json.loads(raw or b"null")


def _pages(path: str) -> list[Any]:
    out: list[Any] = []
    page = 1
    while True:
        sep = "&" if "?" in path else "?"
        chunk = _api("GET", f"{path}{sep}per_page=100&page={page}")
        out.extend(chunk)
        if len(chunk) < 100:
            return out
        page += 1


def _project() -> str:
    return "/projects/" + urllib.parse.quote(os.environ["CI_PROJECT_ID"], safe="")


def note(markdown_files: list[str]) -> None:
    """Create the merge request's plan note, or update it in place when it exists."""
    parts = [Path(f).read_text(encoding="utf-8") for f in sorted(markdown_files) if Path(f).is_file()]
    body = "\n".join([MARKER, "#### integration-sync plan", "", *(parts or ["No plan was produced."])])
    if len(body) > MAX_NOTE:
        body = f"{MARKER}\nThe plan is too long for a note: see the plan jobs' logs and artifacts."
    mr = f"{_project()}/merge_requests/{os.environ['CI_MERGE_REQUEST_IID']}/notes"
    existing = [n for n in _pages(mr) if str(n.get("body", "")).startswith(MARKER)]
    if existing:
        _api("PUT", f"{mr}/{existing[0]['id']}", {"body": body})
        print(f"updated note {existing[0]['id']}")
    else:
        created = _api("POST", mr, {"body": body})
        print(f"created note {created['id']}")


def fetch_plans(target: str) -> None:
    """Download the plan files of the merge request that ``CI_COMMIT_SHA`` merged into ``target``."""
    project = _project()
    sha = os.environ["CI_COMMIT_SHA"]
    mrs = [m for m in _api("GET", f"{project}/repository/commits/{sha}/merge_requests") if m.get("iid")]
    if not mrs:
        sys.exit(f"error: {sha} was not merged from a merge request: there is no reviewed plan to apply")
    pipelines = [
        p
        for p in _api("GET", f"{project}/merge_requests/{mrs[0]['iid']}/pipelines")
        if p["status"] == "success"
    ]
    if not pipelines:
        sys.exit(
            f"error: merge request !{mrs[0]['iid']} has no successful pipeline: nothing reviewed to apply"
        )
    latest = max(pipelines, key=lambda p: p["id"])
    jobs = [
        j
        for j in _pages(f"{project}/pipelines/{latest['id']}/jobs")
        # "plan", or "plan K/N" under parallel: N; not "plan note", which keeps no artifacts
        if re.fullmatch(r"plan( \d+/\d+)?", j["name"])
    ]
    if not jobs:
        sys.exit(f"error: pipeline {latest['id']} has no plan job")
    out = Path(target)
    out.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        archive = zipfile.ZipFile(io.BytesIO(_api("GET", f"{project}/jobs/{job['id']}/artifacts")))
        for name in archive.namelist():
            if Path(name).name.startswith("plan-") and name.endswith(".json"):
                (out / Path(name).name).write_bytes(archive.read(name))
                print(f"{job['name']}: {Path(name).name}")


def main(argv: list[str]) -> None:
    if len(argv) >= 1 and argv[0] == "note":
        note(argv[1:])
    elif len(argv) == 2 and argv[0] == "fetch-plans":
        fetch_plans(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
