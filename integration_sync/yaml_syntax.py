"""A YAML file's syntax errors as located diagnostics, in the pure-Python parser's clearer wording, with
a hint at what usually causes each in a definition and how to write it instead."""

from __future__ import annotations

import re

import yaml

from integration_sync.diagnostics import Diagnostic


def located(file: str, message: str, rule: str, line: int = 1, col: int = 1, path: str = "") -> Diagnostic:
    return Diagnostic(file, line, col, path, message, rule, "error")


def _line_col(text: str, index: int) -> tuple[int, int]:
    index = max(0, min(index, len(text)))
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _tab_problem(text: str, line: int) -> tuple[int, int] | None:
    """(line, col) of a tab in the indentation of ``line`` (1-based), if there is one."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    src = lines[line - 1]
    indent = src[: len(src) - len(src.lstrip(" \t"))]
    if "\t" in indent:
        return line, indent.index("\t") + 1
    return None


def syntax_diagnostic(text: str, file: str, exc: yaml.YAMLError) -> Diagnostic:
    """A parse error as a located diagnostic, with the pure-Python parser's clearer wording."""
    if isinstance(exc, yaml.reader.ReaderError):
        line, col = _line_col(text, exc.position)
        what = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return located(file, f"character {what} is not allowed in YAML", "yaml-syntax", line, col)
    assert isinstance(exc, yaml.MarkedYAMLError)
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    tab = _tab_problem(text, line)
    if tab is not None:
        msg = "tab character in indentation: YAML indents with spaces only"
        return located(file, msg, "yaml-tab", *tab)
    parts = [p for p in (exc.context, exc.problem) if p]
    cm, pm = exc.context_mark, exc.problem_mark
    if cm is not None and exc.context and pm is not None and cm.line != pm.line:
        parts[0] = f"{exc.context} (started at line {cm.line + 1})"
    message = "YAML syntax error: " + ", ".join(parts)
    hint = _syntax_hint(exc, text.split("\n")[line - 1] if line <= text.count("\n") + 1 else "", col)
    return located(file, message + (f" ({hint})" if hint else ""), "yaml-syntax", line, col)


# ``key: `` (or ``- key: ``) then a value that starts with a quote, a bracket or a brace.
_QUOTED_START = re.compile(r"""^(\s*(?:-\s+)?[^\s"'#\[{][^#]*?:[ \t]+)(["'\[{].*?)\s*$""")


def _syntax_hint(exc: yaml.MarkedYAMLError, line: str, col: int) -> str:
    """What usually causes this syntax error in a definition, and how to write it instead: a filter
    such as ``"Status" == "x"`` that starts with a quote, ``tenants: [*]``, ``: `` inside a value."""
    context, problem = exc.context or "", exc.problem or ""
    if "scanning an alias" in context or problem.startswith("found undefined alias"):
        return 'a value that starts with * is a YAML alias; quote it, e.g. tenants: ["*"]'
    if "that cannot start any token" in problem and any(f"'{c}'" in problem for c in "@`%"):
        return "YAML reserves @, ` and % at the start of an unquoted value; quote the value"
    if "flow" in context and "${" in line and line[col - 1 : col] == "{":
        return 'inside [...] a ${variable} must be quoted: ["Export ${region}"]'
    if problem == "mapping values are not allowed here":
        return 'an unquoted value cannot hold ": " (a colon then a space); quote the value, or check the indentation of this line'
    m = _QUOTED_START.match(line)
    if m and col - 1 > len(m.group(1)) and "but found" in problem:
        key, value = m.group(1).strip(), m.group(2)
        what = "a quote" if value[0] in "\"'" else "a bracket"
        if "'" not in value:
            fix = f"quote the whole value: {key} '{value}'"
        elif '"' not in value and "\\" not in value:
            fix = f'quote the whole value: {key} "{value}"'
        else:
            fix = f"write it as a block: {key} >- and the value on the next line, indented"
        return f"a value that starts with {what} ends where it closes, and what follows it is not YAML; {fix}"
    return ""
