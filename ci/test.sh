#!/usr/bin/env bash
# ci/test.sh - THE test command (README Quick start; .ci/run calls it). Debian 12, as root.
#
# Stages, each reported as named checks; a failing stage does not stop the later ones:
#   1. ci/deps.sh (install what is missing), ci/services.sh start (PostgreSQL, Redis, Kafka)
#   2. static checks: clang-format, banned functions, buf lint (ci/buf-lint.sh)
#   3. build/ (RelWithDebInfo) and build-asan/ (Debug, -DTD_SANITIZE=ON: ASan+UBSan)
#   4. ctest in build/ (unit + integration + valgrind) and in build-asan/ (all but the
#      "valgrind" label), every ctest test counted as one check
# The last line is exactly "N passed, N failed"; the exit status is non-zero if any failed.
# TODO_* values already set in the environment are honoured (never overwritten).
# Environment: TD_TEST_JOBS (build parallelism, default 2), TD_TEST_SKIP_ASAN=1 (skip the
# sanitizer build and run; for quick local runs only).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
JOBS="${TD_TEST_JOBS:-2}"
OUT="$REPO/build-test-logs"
mkdir -p "$OUT"
START=$(date +%s)

passed=0
failed=0
failed_names=()
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); failed_names+=("$1"); echo "FAIL: $1${2:+ ($2)}"; }
stage() { echo; echo "=== $* ($(($(date +%s) - START))s)"; }
# run NAME LOG CMD...: runs CMD with output in LOG, shows the tail on failure.
run() {
  local name="$1" log="$2"; shift 2
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then pass "$name"; return 0; fi
  fail "$name" "exit $rc, log $log"
  tail -n 40 "$log" | sed 's/^/    /'
  return 1
}

# ------------------------------------------------------------------ 1. deps and services
stage "dependencies"
run "deps (ci/deps.sh)" "$OUT/deps.log" ci/deps.sh || true
export PATH="$PATH:/usr/local/go/bin"
if command -v go >/dev/null 2>&1; then export PATH="$PATH:$(go env GOPATH | cut -d: -f1)/bin"; fi

stage "services"
run "services start (ci/services.sh start)" "$OUT/services.log" ci/services.sh start || true
# Honour TODO_* already set: apply only the exports for variables that are unset.
if envlines="$(ci/services.sh env 2>/dev/null)"; then
  while IFS= read -r line; do
    [[ "$line" =~ ^export\ (TODO_[A-Z0-9_]+)=(.*)$ ]] || continue
    var="${BASH_REMATCH[1]}"
    if [ -z "${!var:-}" ]; then eval "$line"; fi
  done <<<"$envlines"
fi
echo "TODO_DATABASE_URL=${TODO_DATABASE_URL:-} TODO_REDIS_URL=${TODO_REDIS_URL:-} TODO_KAFKA_BROKERS=${TODO_KAFKA_BROKERS:-}"

# ------------------------------------------------------------------ 2. static checks
stage "static checks"
src_dirs=()
for d in lib server workers gateway tests; do [ -d "$d" ] && src_dirs+=("$d"); done
mapfile -t c_files < <(find "${src_dirs[@]}" \( -name 'build*' -o -name '.cache' -o -name 'node_modules' \) -prune \
                         -o -type f \( -name '*.c' -o -name '*.h' \) -print | sort)
echo "${#c_files[@]} C files under ${src_dirs[*]}"
if [ "${#c_files[@]}" -gt 0 ]; then
  run "clang-format (${#c_files[@]} files)" "$OUT/clang-format.log" clang-format --dry-run --Werror "${c_files[@]}" || true
  # Banned: sprintf strcpy strcat strtok atoi gets called as whole words (snprintf,
  # vsnprintf, fgets, strtok_r do not match); comments and string literals are blanked
  # first so prose like "the request gets (a copy)" is not flagged.
  if /usr/bin/python3 - "${c_files[@]}" >"$OUT/banned.log" 2>&1 <<'PY'
import re, sys
code = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
banned = re.compile(r'(?<![A-Za-z0-9_])(sprintf|strcpy|strcat|strtok|atoi|gets)\s*\(')
hits = 0
for path in sys.argv[1:]:
    src = open(path, encoding="utf-8", errors="replace").read()
    blank = code.sub(lambda m: re.sub(r'[^\n]', ' ', m.group(0)), src)
    for n, line in enumerate(blank.splitlines(), 1):
        for m in banned.finditer(line):
            hits += 1
            print("%s:%d: %s(: %s" % (path, n, m.group(1), src.splitlines()[n - 1].strip()))
sys.exit(1 if hits else 0)
PY
  then
    pass "banned functions (sprintf strcpy strcat strtok atoi gets)"
  else
    fail "banned functions (sprintf strcpy strcat strtok atoi gets)" "see below"
    sed 's/^/    /' "$OUT/banned.log" | head -40
  fi
else
  fail "static checks: no C sources found"
fi
if [ -x ci/buf-lint.sh ]; then
  run "buf lint (ci/buf-lint.sh)" "$OUT/buf-lint.log" ci/buf-lint.sh || true
fi

# ------------------------------------------------------------------ 3. builds
build() { # build NAME DIR CMAKE-ARGS...
  local name="$1" dir="$2"; shift 2
  run "configure $name" "$OUT/configure-$name.log" cmake -S . -B "$dir" "$@" &&
    run "build $name" "$OUT/build-$name.log" cmake --build "$dir" -j"$JOBS"
}
stage "build (RelWithDebInfo)"
build_ok=0; build "build" build -DCMAKE_BUILD_TYPE=RelWithDebInfo && build_ok=1
asan_ok=0
if [ "${TD_TEST_SKIP_ASAN:-0}" != 1 ]; then
  stage "build-asan (Debug, ASan+UBSan)"
  build "build-asan" build-asan -DCMAKE_BUILD_TYPE=Debug -DTD_SANITIZE=ON && asan_ok=1
fi

# ------------------------------------------------------------------ 4. tests
# ctest_run NAME DIR EXTRA-ARGS...: one check per ctest test, from ctest's JUnit report.
ctest_run() {
  local name="$1" dir="$2"; shift 2
  local junit="$OUT/junit-$name.xml" log="$OUT/ctest-$name.log"
  rm -f "$junit"
  set +e
  ctest --test-dir "$dir" --output-on-failure --output-junit "$junit" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  if [ ! -s "$junit" ]; then
    fail "ctest $name" "no JUnit report (ctest exit $rc)"
    return
  fi
  local report
  report="$(/usr/bin/python3 - "$junit" "$name" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
p = f = 0
for tc in root.iter("testcase"):
    status = tc.get("status", "")
    bad = tc.find("failure") is not None or tc.find("error") is not None or status in ("fail", "failed")
    name = "%s: %s" % (sys.argv[2], tc.get("name"))
    t = tc.get("time", "?")
    if bad:
        f += 1
        print("FAIL: %s (%ss)" % (name, t))
    else:
        p += 1
        print("PASS: %s (%ss)%s" % (name, t, " [skipped]" if tc.find("skipped") is not None else ""))
print(p, f)
PY
)" || report="0 1"
  sed '$d' <<<"$report" | tee -a "$OUT/checks.log"
  local p f
  read -r p f <<<"$(tail -n 1 <<<"$report")"
  passed=$((passed + p))
  failed=$((failed + f))
  [ "$f" -gt 0 ] && failed_names+=("ctest $name: $f failed")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then fail "ctest $name" "ctest exit $rc"; fi
  return 0
}

if [ "$build_ok" = 1 ]; then
  stage "ctest build/"
  ctest_run build build
fi
if [ "$asan_ok" = 1 ]; then
  stage "ctest build-asan/ (without label valgrind)"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  ctest_run build-asan build-asan -LE valgrind
fi

stage "summary"
for n in "${failed_names[@]+"${failed_names[@]}"}"; do echo "  failed: $n"; done
echo "logs: $OUT"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
