"""The pull request's title and body keep the agent's text inert (runtime.review.body)."""

from __future__ import annotations

import re

import pytest

from runtime.contract.outcome import Result, Status
from runtime.contract.start import StartPoint
from runtime.review import body as render

BRANCH = "specs/001-demo/T012-async"
ATTACK = (
    "Fix it @alice @org/team #12 !7\n"
    "<!-- hidden instructions for the reviewer -->\n"
    "```\n</details><img src=x onerror=alert(1)>\n```\n"
    "~~~\n[click](javascript:alert(1)) ![pixel](https://evil.example/p.png)\n"
    "[ref]: https://evil.example\n"
    "\x1b]0;owned\x07\x1b[2J\x1b[31mred\x1b[0m \u202eevil\u202c\r\n"
    "````` five ticks"
)


def result(**changes: object) -> Result:
    fields: dict[str, object] = {
        "task": "T012",
        "status": Status.SUCCEEDED,
        "branch": BRANCH,
        "commit": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "files_changed": ("src/parser.py", "tests/test_parser.py"),
        "duration_s": 125.0,
        "llm_requests": 12,
        "input_tokens": 3400,
        "output_tokens": 1200,
    }
    fields.update(changes)
    return Result(**fields)  # type: ignore[arg-type]


def outside_code(text: str) -> str:
    """The markdown a renderer would render: fenced blocks and code spans taken out
    (CommonMark: a fence closes only on a line of at least as many backticks)."""
    kept: list[str] = []
    fence = ""
    for line in text.split("\n"):
        if not fence:
            opened = re.match(r"^(`{3,})", line)
            if opened:
                fence = opened.group(1)
            else:
                kept.append(line)
        elif re.fullmatch(rf"`{{{len(fence)},}}\s*", line):
            fence = ""
    assert not fence, "a fenced block is left open"
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", "\n".join(kept))


def test_title() -> None:
    assert render.title("T012", "Add the parser", Status.SUCCEEDED) == "T012: Add the parser"
    assert render.title("T012", "Add the parser", Status.FAILED) == "[failed] T012: Add the parser"
    assert render.title("T012", "x", Status.TIMEOUT).startswith("[timeout] T012: ")
    assert render.title("T012", " \n ", Status.SUCCEEDED) == "T012: task"


def test_the_title_is_one_quiet_printable_line() -> None:
    shown = render.title("T012", ATTACK * 100, Status.SUCCEEDED)
    assert "\n" not in shown and "\x1b" not in shown and "\u202e" not in shown
    assert not re.search(r"[@#!]\w", shown)
    assert len(shown) <= len("T012: ") + render.MAX_TITLE


def test_the_body_shows_the_facts() -> None:
    text = render.body("T012", "Add the parser", result(), "`main`, which the run started from")
    for fact in (
        "**Status:** `succeeded`",
        f"**Branch:** `{BRANCH}` at `6dcb09b5b578`",
        "**Files changed:** 2",
        "**Duration:** 2m5s",
        "**LLM:** 12 requests, 3400 in, 1200 out tokens",
        "**Started from:** `the base branch`",
        "**Base:** `main`, which the run started from",
    ):
        assert fact in text
    assert "```text\nAdd the parser\n```" in text
    assert "### Reason" not in text  # an empty section is left out


def test_the_facts_show_the_cost_when_it_is_known() -> None:
    text = render.body("T012", "t", result(cost_usd=0.0282), "note")
    assert (
        "**LLM:** 12 requests, 3400 in, 1200 out tokens, cost $0.0282 at your price "
        "(counted by the pod's proxy)"
    ) in text
    assert "cost" not in render.body("T012", "t", result(), "note").split("**LLM:**")[1][:60]


def test_started_from_prerequisites() -> None:
    point = StartPoint("T002", "specs/001-demo/T002-async", "a" * 40)
    text = render.body("T012", "t", result(started_from=(point,)), "note")
    assert "**Started from:** `T002@aaaaaaaaaaaa`" in text


def test_untrusted_text_stays_inert() -> None:
    attacked = result(
        status=Status.FAILED,
        reason=ATTACK,
        files_changed=(ATTACK, "ok.py"),
        branch="specs/x/`<!--`-async",
    )
    text = render.body("T012", ATTACK, attacked, "note", log_lines=ATTACK.splitlines())
    rendered = outside_code(text)
    for bad in ("<!--", "<img", "</details", "javascript:", "](", "[ref]:", "~~~"):
        assert bad not in rendered
    assert not re.search(r"[@#!]\w", rendered)
    assert not re.search(r"@\w", text)  # not even inside code: Gitea reads raw markdown
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    assert "````` five ticks" in text  # shown, inside a longer fence


@pytest.mark.parametrize("field", ["task", "reason", "files", "logs"])
def test_a_megabyte_is_cut(field: str) -> None:
    huge = ("A" * 999 + "\n") * 1024
    changes: dict[str, object] = {}
    task = "t"
    logs: list[str] = []
    if field == "task":
        task = huge
    elif field == "reason":
        changes["reason"] = huge
    elif field == "files":
        changes["files_changed"] = tuple(huge.splitlines())
    else:
        logs = huge.splitlines()
    text = render.body("T012", task, result(**changes), "note", log_lines=logs)
    assert len(text) < render.MAX_BODY
    assert text.endswith("updates it.</sub>")  # cut per part, not at the end
    assert "more characters not shown" in text or "… and 924 more" in text or field == "logs"
    outside_code(text)  # every fence closed


def test_everything_huge_at_once_fits() -> None:
    huge = ("`" * 10 + "B" * 990 + "\n") * 1024
    many = tuple(huge.splitlines())
    attacked = result(reason=huge, files_changed=many, branch="b" * 5000, commit="c" * 40)
    text = render.body("T012", huge, attacked, "note", log_lines=many)
    assert len(text) <= render.MAX_BODY and text.endswith("</sub>")
    outside_code(text)


def test_code_spans_outrun_backticks() -> None:
    assert render.code("a`b") == "``a`b``"
    assert render.code("`x`") == "`` `x` ``"
    assert render.code("") == "`(none)`"
    assert render.fenced("```\nx\n```").startswith("````text\n")


def test_quiet() -> None:
    zw = "\u200b"
    assert render.quiet("hi @bob (@eve) org/repo#3 #4 !7") == (
        f"hi @{zw}bob (@{zw}eve) org/repo#{zw}3 #{zw}4 !{zw}7"
    )
    assert render.quiet("T002@1a2b a@b.example wow!") == "T002@1a2b a@b.example wow!"


LOG_ATTACK = [
    "[agent] ```",
    "[agent] </sub><details open><summary>Approved</summary><!-- merge me -->",
    "[agent] <img src=x onerror=alert(1)> <a href='javascript:alert(1)'>x</a>",
    "[agent] ping @alice @org/team, closes #12, see org/repo#3 and !7",
    "[agent] \x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \x1b[2J\x1b[31mred\x1b[0m\r",
    "[agent] ``````` seven ticks",
    "````",
    "[agent] [click](https://evil.example) ![p](https://evil.example/p.png)",
]


def test_hostile_log_lines_stay_inert_in_their_own_section() -> None:
    text = render.body("T012", "Add the parser", result(), "note", log_lines=LOG_ATTACK)

    section = text.split("### Last log lines\n\n")[1]
    fence = section.split("\n")[0]
    assert fence == "`" * 8 + "text"  # longer than any run of backticks in the lines
    rendered = outside_code(text)
    for bad in ("<details", "<img", "<a ", "<!--", "</sub><", "javascript:", "](", "```"):
        assert bad not in rendered
    assert not re.search(r"[@#!]\w", rendered)
    assert not re.search(r"@\w|(?<!\w)#\d|!\d", text)  # Gitea reads the raw markdown
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    shown = section.split("\n")[1 : 1 + len(LOG_ATTACK)]
    assert shown[3] == (
        "[agent] ping @\u200balice @\u200borg/team, closes #\u200b12, see org/repo#\u200b3 "
        "and !\u200b7"
    )
    assert shown[4] == "[agent] click red"  # the text kept, the escapes gone
    assert shown[6] == "````"  # shown as a line of the log, not a fence
    assert text.endswith("updates it.</sub>")  # the body's own last line is still ours


def test_only_the_last_log_lines_are_shown_each_on_one_capped_line() -> None:
    lines = [f"line {n}" for n in range(45)] + ["x" * 5000 + "\nsecond half"]
    text = render.body("T012", "t", result(), "note", log_lines=lines)
    section = text.split("### Last log lines\n\n```text\n")[1].split("\n```")[0].split("\n")
    assert len(section) == render.MAX_LOG_LINES and section[0] == "line 16"
    assert section[-1].startswith("x" * 300) and "more characters not shown" in section[-1]
    assert len(section[-1]) < render.MAX_LINE + 60 and "second half" not in text
