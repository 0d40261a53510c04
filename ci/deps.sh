#!/usr/bin/env bash
# Installs everything "todo" needs to build and test, idempotently.
# Debian 12 (bookworm), run as root (or with sudo available).
#   ci/deps.sh            install what is missing; prints one line per thing installed
# A rerun with everything present does no network access and takes well under 3 s.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUF_SPEC="${TODO_BUF_SPEC:-@bufbuild/buf@1.75.0}"
GRPCURL_SPEC="${TODO_GRPCURL_SPEC:-github.com/fullstorydev/grpcurl/cmd/grpcurl@latest}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "deps: not root and no sudo; cannot install packages" >&2; exit 1; fi
fi

# Debian packages always wanted.
PKGS=(
  build-essential cmake pkg-config
  libgrpc-dev libgrpc++-dev protobuf-compiler protobuf-compiler-grpc
  protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev
  librdkafka-dev libpq-dev libhiredis-dev
  check libsubunit-dev libssl-dev zlib1g-dev
  python3-grpcio python3-protobuf
  kcat postgresql postgresql-contrib postgresql-client redis-server redis-tools
  clang-format valgrind openssl jq curl ca-certificates util-linux
)
# Toolchains: only when the command is absent (the machine may bring its own).
command -v go    >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || PKGS+=(golang-go)
command -v java  >/dev/null 2>&1 || PKGS+=(openjdk-17-jre-headless)
command -v mvn   >/dev/null 2>&1 || PKGS+=(maven)
command -v node  >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm   >/dev/null 2>&1 || PKGS+=(npm)

# One dpkg-query for all: fast. Unknown packages print nothing on stdout.
installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null \
             | awk '$NF=="installed" && $(NF-1)=="ok" {print $1}' || true)"
missing=()
for p in "${PKGS[@]}"; do
  grep -qxF "$p" <<<"$installed" || missing+=("$p")
done

# Run a noisy installer quietly; show its output only if it fails.
LOG="$(mktemp)"; trap 'rm -f "$LOG"' EXIT
quiet() {
  if ! "$@" >"$LOG" 2>&1; then
    echo "deps: FAILED: $*" >&2; tail -n 40 "$LOG" >&2; exit 1
  fi
}

did=0
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  quiet $SUDO apt-get update -qq
  quiet $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  for p in "${missing[@]}"; do echo "deps: installed $p (apt)"; did=1; done
fi

# Go: the machine's go may live in /usr/local/go/bin, off PATH in some shells.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

# grpcurl (Go module) into $(go env GOPATH)/bin.
GOBIN_DIR="$(go env GOPATH)/bin"
if [ ! -x "$GOBIN_DIR/grpcurl" ]; then
  quiet go install "$GRPCURL_SPEC"
  echo "deps: installed grpcurl ($GOBIN_DIR/grpcurl)"; did=1
fi

# buf (npm, ships its Linux binary as an optional dependency) into .cache/npm.
if [ ! -x "$REPO/.cache/npm/node_modules/.bin/buf" ]; then
  mkdir -p "$REPO/.cache/npm"
  quiet npm install --no-fund --no-audit --prefix "$REPO/.cache/npm" "$BUF_SPEC"
  quiet "$REPO/.cache/npm/node_modules/.bin/buf" --version
  echo "deps: installed buf ($REPO/.cache/npm/node_modules/.bin/buf)"; did=1
fi

[ "$did" -eq 1 ] || echo "deps: all present"
