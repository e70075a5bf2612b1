"""A draft pull request per task, opened from the developer's side.

The token never comes near the agent: it is the developer's own (an environment
variable or ``git credential fill``), used here, on the host, against the git host's
REST API -- Gitea, GitHub or GitLab, one module each behind one small interface
(:class:`~runtime.review.hosts.PullRequestHost`).

The caller's entry points: :func:`runtime.review.connect.connect` (the remote URL to a
client) and :func:`runtime.review.publish.open_or_update` (a task's result to its pull
request).  Every failure is a :class:`runtime.errors.ReviewError`: one line and a hint.
"""
