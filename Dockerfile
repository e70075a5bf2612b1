# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# The speckit-pods agent image, run as the three containers of an agent pod (see
# docs/architecture.md, "Contract: agent pod"): `tini -- python3 -m runtime.agent git-side`
# (container `git`, UID 10002: clone, then commit, push and the result line),
# `... llm-proxy` (container `llm-proxy`, UID 10003: the LLM key's proxy on the pod's
# loopback) and `... run` (container `agent`, UID 10001: `opencode run` on one task).
#
# Build (BuildKit):
#   hack/bootstrap/agent-image.sh                      # what CI and the e2e use
#   docker build -t ghcr.io/speckit-pods/agent:0.1.0 .
#
# Behind a TLS-intercepting proxy (corporate, or this project's CI), npm in the
# builder stage must trust the proxy's CA. Pass a PEM file (one CA or a whole
# bundle) as the optional BuildKit secret `extra_ca`; without it nothing changes:
#   docker build --secret id=extra_ca,src=/etc/ssl/certs/ca-certificates.crt -t ... .
# The CA is only used by the builder stage; the final image does not contain it.
#
# Build args:
#   OPENCODE_VERSION  opencode-ai npm version (default 1.18.33)
#   BASE_IMAGE        Debian base (default debian:bookworm-slim)
#
# The opencode binary is chosen by opencode-ai's postinstall for the BUILD host's
# CPU (x64 with AVX2 -> opencode-linux-x64, else the -baseline build): build on the
# same CPU family as the cluster nodes.
#
# Runtime: agent UID/GID 10001, HOME=/home/agent; git side UID 10002 (a passwd entry:
# ssh refuses a UID without one), GID 10001, HOME=/home/git; WORKDIR /workspace; works
# with a read-only root filesystem when the pod mounts its emptyDirs there.

ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS opencode
ARG OPENCODE_VERSION=1.18.33
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates nodejs npm \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=secret,id=extra_ca,target=/run/secrets/extra_ca.pem \
    if [ -s /run/secrets/extra_ca.pem ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca.pem; fi \
 && npm install --global --no-fund --no-audit --loglevel=error "opencode-ai@${OPENCODE_VERSION}" \
 && install -D -m 0755 "$(npm root --global)/opencode-ai/bin/opencode.exe" /out/opencode \
 && /out/opencode --version | grep -qx "${OPENCODE_VERSION}"

FROM ${BASE_IMAGE}
ARG OPENCODE_VERSION=1.18.33
LABEL org.opencontainers.image.title="speckit-pods agent" \
      org.opencontainers.image.description="Runs one spec-kit task with opencode, then commits and pushes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.speckit-pods.opencode-version="${OPENCODE_VERSION}"

RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates git openssh-client python3 ripgrep tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --gid 10001 agent \
 && useradd --uid 10001 --gid 10001 --home-dir /home/agent --no-create-home --shell /bin/bash agent \
 && useradd --uid 10002 --gid 10001 --home-dir /home/git --no-create-home --shell /usr/sbin/nologin speckit-git \
 && groupadd --gid 10003 speckit-llm \
 && useradd --uid 10003 --gid 10003 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin speckit-llm \
 && install -d -o 10001 -g 10001 -m 0755 /home/agent /workspace \
 && install -d -o 10002 -g 10001 -m 0755 /home/git /gitdir /handoff

COPY --from=opencode /out/opencode /usr/local/bin/opencode
COPY manifests/agent-config/opencode.json /etc/speckit-pods/opencode/opencode.json
COPY runtime/__init__.py /opt/speckit-pods/runtime/
COPY runtime/contract/ /opt/speckit-pods/runtime/contract/
COPY runtime/agent/ /opt/speckit-pods/runtime/agent/
RUN python3 -m compileall -q /opt/speckit-pods

# XDG dirs under HOME (an emptyDir in the pod); no downloads at run time: no model
# catalog, no self-update, no LSP servers; rg comes from Debian. The background
# `npm install @opencode-ai/plugin` is stopped by the entrypoint, which seeds the
# config dirs at start (HOME is empty in a fresh pod).
ENV HOME=/home/agent \
    XDG_CONFIG_HOME=/home/agent/.config \
    XDG_DATA_HOME=/home/agent/.local/share \
    XDG_CACHE_HOME=/home/agent/.cache \
    XDG_STATE_HOME=/home/agent/.local/state \
    TMPDIR=/tmp \
    OPENCODE_CONFIG=/etc/speckit-pods/opencode/opencode.json \
    OPENCODE_DISABLE_MODELS_FETCH=1 \
    OPENCODE_DISABLE_AUTOUPDATE=1 \
    OPENCODE_DISABLE_SHARE=1 \
    OPENCODE_DISABLE_LSP_DOWNLOAD=1 \
    PYTHONPATH=/opt/speckit-pods \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WORKSPACE=/workspace \
    TASK_DIR=/etc/speckit-pods/task \
    GIT_CREDENTIALS_DIR=/var/run/secrets/speckit-pods/git

USER 10001:10001
WORKDIR /workspace
ENTRYPOINT ["tini", "--", "python3", "-m", "runtime.agent"]
