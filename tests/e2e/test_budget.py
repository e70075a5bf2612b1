"""--max-tokens and --max-cost on the real cluster: the pod's LLM proxy stops a task at its budget.

The scripted LLM reports 15 tokens per answer and a ``scripted:write`` task takes three
answers (45 tokens).  With ``--max-tokens 20`` the proxy relays the first two answers
(the second crosses the budget and is relayed whole), refuses the third request, and the
trusted git side ends the task ``over-budget`` (exit 31) with the figures in the reason
and the work in progress -- the file the agent wrote first -- pushed to the task branch.
With ``--llm-price 1000/1000`` an answer costs $0.015 (15 tokens at $1000 per million),
so ``--max-cost 0.02`` is crossed by the second answer the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.e2e.cluster import Kubectl
from tests.e2e.conftest import Feature
from tests.e2e.gitea import GiteaServer
from tests.e2e.test_dispatch import dispatch, results
from tests.support.scripted_llm import (
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    TOKENS_PER_REPLY,
    Marker,
    ScriptedLLMServer,
    write_target,
)


def test_a_task_over_its_token_budget_ends_over_budget_with_its_wip_pushed(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    llm: ScriptedLLMServer,
) -> None:
    feature = make_feature(["- [ ] T070 [ASYNC] Write within a budget scripted:write"])
    budget = TOKENS_PER_REPLY + 5  # the second answer crosses it
    done = dispatch(feature, "--max-tokens", str(budget))
    out = done.stdout + done.stderr
    assert results(done.stdout) == {"T070": "over-budget"}, out
    assert done.returncode == 1, out
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("[T070] RESULT "))
    assert " exit=31 " in line, line
    # the crossing answer is the second (relayed whole); a third request, if sent, is refused
    found = re.search(r'reason="(\d+) tokens used, budget (\d+) \(--max-tokens\); WIP commit', line)
    assert found is not None, line
    assert int(found[1]) == 2 * TOKENS_PER_REPLY and int(found[2]) == budget, line
    path, content = write_target(Marker("write", {}, "T070"))
    assert gitea.read_file(feature.repo, feature.branch("T070"), path) == content, out
    assert "- [ ] T070 " in feature.tasks_file.read_text()  # not done


def test_a_task_over_its_cost_budget_ends_over_budget_with_its_wip_pushed(
    make_feature: Callable[[list[str]], Feature],
    gitea: GiteaServer,
    installed: Kubectl,
    llm: ScriptedLLMServer,
) -> None:
    feature = make_feature(["- [ ] T071 [ASYNC] Write within a cost budget scripted:write"])
    price_in, price_out = 1000, 1000  # US dollars per million tokens: $0.015 an answer
    per_reply = (PROMPT_TOKENS * price_in + COMPLETION_TOKENS * price_out) / 1_000_000
    budget = "0.02"  # the second answer crosses it ($0.03)
    assert per_reply < float(budget) <= 2 * per_reply
    done = dispatch(feature, "--llm-price", f"{price_in}/{price_out}", "--max-cost", budget)
    out = done.stdout + done.stderr
    assert results(done.stdout) == {"T071": "over-budget"}, out
    assert done.returncode == 1, out
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("[T071] RESULT "))
    assert " exit=31 " in line, line
    # the crossing answer is the second (relayed whole); a third request, if sent, is refused
    tokens = f" tokens_in={2 * PROMPT_TOKENS} tokens_out={2 * COMPLETION_TOKENS} "
    spent = f"${2 * per_reply:.4f}"  # $0.0300
    assert f"{tokens}cost={spent} " in line, line
    found = re.search(
        r'reason="(\$[0-9.]+) spent, budget (\$[0-9.]+) \(--max-cost\); WIP commit', line
    )
    assert found is not None, line
    assert (found[1], found[2]) == (spent, "$0.02"), line
    assert f"cost {spent}" in done.stderr, out  # the dispatcher's INFO: tokens: ... line
    path, content = write_target(Marker("write", {}, "T071"))
    assert gitea.read_file(feature.repo, feature.branch("T071"), path) == content, out
    assert "- [ ] T071 " in feature.tasks_file.read_text()  # not done
