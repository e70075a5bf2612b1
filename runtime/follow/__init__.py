"""Following an agent pod to its end: classify, follow, finish."""
