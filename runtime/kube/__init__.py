"""The Kubernetes side: client, CoreV1 calls, pod view, waits, log streaming, cleanup."""
