#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# /usr/local/bin/kube-proxy in the offline kube-proxy image: picks the iptables
# backend (legacy or nft) the node already uses -- the one holding more rules, ties
# going to legacy as in kind's node entrypoint -- then runs the real kube-proxy.
set -eu
legacy=$( (iptables-legacy-save; ip6tables-legacy-save) 2>/dev/null | grep -c '^-' || true)
nft=$( (timeout 5 sh -c 'iptables-nft-save; ip6tables-nft-save') 2>/dev/null | grep -c '^-' || true)
mode=nft
if [ "${legacy}" -ge "${nft}" ]; then mode=legacy; fi
echo "kube-proxy-wrapper: iptables mode ${mode} (legacy rules ${legacy}, nft rules ${nft})" >&2
update-alternatives --set iptables "/usr/sbin/iptables-${mode}" >/dev/null
update-alternatives --set ip6tables "/usr/sbin/ip6tables-${mode}" >/dev/null
exec /usr/local/bin/kube-proxy.bin "$@"
