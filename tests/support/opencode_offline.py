"""How tests run the real opencode on the host with no network but the scripted LLM."""

from __future__ import annotations

from typing import Any

OPENCODE_OFFLINE_ENV = {
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
    "NO_COLOR": "1",
}
# a package-lock.json that, next to an empty node_modules/, stops opencode's background
# `npm install @opencode-ai/plugin` into a config dir; with the extension's custom tools in
# .opencode/tool/, opencode waits for that install before the first request (with no
# network: over 10 minutes), so every run with the tools needs it (extension/README.md,
# The subagent)
NO_PLUGIN_INSTALL: dict[str, Any] = {
    "packages": {"": {"dependencies": {"@opencode-ai/plugin": "*"}}}
}
