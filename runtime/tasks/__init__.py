"""The task list parser: tasks.md, feature discovery and waves; never imports Kubernetes code."""
