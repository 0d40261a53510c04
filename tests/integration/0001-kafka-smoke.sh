#!/usr/bin/env bash
# Smoke test: the Kafka broker from ci/services.sh is real.
#  - metadata lists the project's 4 topics, 3 partitions each
#  - 3 messages with one unique key, produced with kcat, are consumed back in order
#    from one partition (topic ci.smoke, auto-created on first use).
# Needs: kcat, jq.  TODO_KAFKA_BROKERS defaults to 127.0.0.1:9092.
set -euo pipefail

BROKERS="${TODO_KAFKA_BROKERS:-127.0.0.1:9092}"
TOPIC="${TODO_SMOKE_TOPIC:-ci.smoke}"
pass=0; fail=0
ok()   { echo "ok   - $*"; pass=$((pass + 1)); }
bad()  { echo "FAIL - $*"; fail=$((fail + 1)); }
finish() { echo "kafka-smoke: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; }

echo "# kafka smoke test against $BROKERS"

# 1. metadata: broker answers and the 4 topics exist with 3 partitions
if ! meta="$(timeout 20 kcat -b "$BROKERS" -L -J -m 10 2>&1)"; then
  bad "kcat -L on $BROKERS: $meta"; finish; exit 1
fi
ok "broker answers metadata ($(jq -r '.brokers | length' <<<"$meta") broker(s))"
for t in task.events reminder.due notification.send notification.dlq; do
  n="$(jq -r --arg t "$t" '[.topics[] | select(.topic == $t) | .partitions | length][0] // 0' <<<"$meta")"
  if [ "$n" = 3 ]; then ok "topic $t exists with 3 partitions"; else bad "topic $t: partitions=$n (want 3)"; fi
done

# 2. produce 3 keyed messages, consume them back
key="smoke-$(hostname)-$$-$(date +%s%N)"
printf '%s\t%s\n' "$key" "one-$key" "$key" "two-$key" "$key" "three-$key" >"${TMPDIR:-/tmp}/$key.in"
if out="$(timeout 30 kcat -b "$BROKERS" -P -t "$TOPIC" -K $'\t' -l "${TMPDIR:-/tmp}/$key.in" 2>&1)" \
   && ! grep -qi 'fail\|error' <<<"$out"; then
  ok "produced 3 messages with key $key to $TOPIC"
else
  bad "produce to $TOPIC: $out"
fi
rm -f "${TMPDIR:-/tmp}/$key.in"

got=""
for attempt in 1 2 3 4 5; do   # a just-created topic may need a moment to have leaders
  got="$(timeout 30 kcat -b "$BROKERS" -C -t "$TOPIC" -o beginning -e -q \
           -f '%p\t%k\t%s\n' 2>/dev/null | awk -F'\t' -v k="$key" '$2 == k')" || true
  [ "$(grep -c . <<<"$got" || true)" -ge 3 ] && break
  sleep 1
done
values="$(cut -f3 <<<"$got" | tr '\n' ' ')"
if [ "$values" = "one-$key two-$key three-$key " ]; then
  ok "consumed the 3 messages back, in order"
else
  bad "consumed: [$values] want [one-$key two-$key three-$key]"
fi
parts="$(cut -f1 <<<"$got" | sort -u | grep -c . || true)"
if [ "$parts" = 1 ]; then ok "all 3 landed on one partition (same key => same partition)"; else bad "messages spread over $parts partitions"; fi

finish
