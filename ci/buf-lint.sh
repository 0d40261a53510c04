#!/usr/bin/env bash
# buf-lint.sh - lints proto/ with buf (config: proto/buf.yaml).
# Installs buf from npm (@bufbuild/buf) into .cache/npm on first use; buf runs offline.
# Exit status: 0 when clean, non-zero on findings or when buf cannot be installed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${root}/.cache/npm"
buf="${prefix}/node_modules/.bin/buf"
if [[ ! -x "${buf}" ]]; then
    if ! command -v npm >/dev/null 2>&1; then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
        else
            echo "buf-lint: npm not found (install nodejs/npm)" >&2
            exit 2
        fi
    fi
    mkdir -p "${prefix}"
    npm install --silent --no-audit --no-fund --prefix "${prefix}" @bufbuild/buf >/dev/null
fi
cd "${root}/proto"
"${buf}" lint
echo "buf lint: clean ($("${buf}" --version))"
