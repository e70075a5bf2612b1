"""--max-tokens on the real cluster: the pod's LLM proxy stops a task at its token budget.

The scripted LLM reports 15 tokens per answer and a ``scripted:write`` task takes three
answers (45 tokens).  With ``--max-tokens 20`` the proxy relays the first two answers
(the second crosses the budget and is relayed whole), refuses the third request, and the
trusted git side ends the task ``over-budget`` (exit 31) with the figures in the reason
and the work in progress -- the file the agent wrote first -- pushed to the task branch.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.e2e.cluster import Kubectl
from tests.e2e.conftest import Feature
from tests.e2e.gitea import GiteaServer
from tests.e2e.test_dispatch import dispatch, results
from tests.support.scripted_llm import TOKENS_PER_REPLY, Marker, ScriptedLLMServer, write_target


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
