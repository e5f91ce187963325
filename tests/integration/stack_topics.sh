#!/usr/bin/env bash
# The local stack (deploy/local/up) serves what every other test assumes:
# Debian's kcat sees the four wavemill topics with the configured partition
# count on the real broker, and PostgreSQL answers as wavemill.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/env

meta=$(timeout 20 kcat -L -b "$WAVEMILL_KAFKA_BROKERS" -m 10)
for t in wm.tasks.control wm.tasks.replication wm.status wm.dlq; do
    name="${WM_TOPIC_PREFIX}$t"
    grep -qF "topic \"$name\" with $WM_PARTITIONS partitions:" <<<"$meta" ||
        { echo "FAIL: topic $name with $WM_PARTITIONS partitions not listed by kcat -L"; echo "$meta" | grep topic; exit 1; }
    echo "ok: $name ($WM_PARTITIONS partitions)"
done

# Auto topic creation is off: producing to an unknown topic (a producer's
# metadata request asks the broker to auto-create) fails and creates nothing.
bogus="wm.no-such-topic-$$"
if echo x | timeout 20 kcat -P -b "$WAVEMILL_KAFKA_BROKERS" -t "$bogus" \
        -X message.timeout.ms=3000 -X topic.metadata.propagation.max.ms=1000 2>/dev/null; then
    echo "FAIL: producing to unknown topic $bogus succeeded"; exit 1
fi
if timeout 20 kcat -L -b "$WAVEMILL_KAFKA_BROKERS" -m 10 | grep -qF "topic \"$bogus\" with"; then
    echo "FAIL: broker auto-created $bogus"; exit 1
fi
echo "ok: unknown topic is not auto-created"

one=$(PGCONNECT_TIMEOUT=5 psql -X -At "$WAVEMILL_PG_CONNINFO" -c 'select 1')
[ "$one" = 1 ] || { echo "FAIL: psql as wavemill: '$one'"; exit 1; }
who=$(psql -X -At "$WAVEMILL_PG_CONNINFO" -c 'select current_user || $$ $$ || current_database()')
[ "$who" = "wavemill wavemill" ] || { echo "FAIL: connected as '$who'"; exit 1; }
echo "ok: postgresql answers select 1 as wavemill in database wavemill"
