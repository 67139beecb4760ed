#!/bin/sh
# One-shot job of docker-compose.yml (service `kafka-init`, apache/kafka image): creates every
# topic of shared/topics.py on the compose Kafka. Idempotent, so it runs on every `up`.
#
# Event topics and dead-letter topics keep data forever (retention.ms=-1): the log is the
# source of truth and projections are rebuilt from offset 0. The broker runs with topic
# auto-creation disabled, so a topic missing here is an error in the services, not a
# silently created topic with the wrong partitions.
#
# The list below must name exactly the topics of shared.topics.all_topic_names(), with the
# partitions of shared.topics.TOPICS (dead-letter topics: 1). tests/unit/test_compose.py
# fails when the two drift apart.
set -eu

BOOTSTRAP="${BOOTSTRAP_SERVERS:-kafka:9092}"
REPLICATION="${TOPIC_REPLICATION_FACTOR:-1}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
TOPIC_CONFIG="--config retention.ms=-1 --config cleanup.policy=delete"

# BEGIN TOPICS (name partitions)
TOPICS='
exemplars.nominations.intake 6
exemplars.nominations.intake.dlq 1
exemplars.evaluations.intake 6
exemplars.evaluations.intake.dlq 1
exemplars.directory 6
exemplars.directory.dlq 1
exemplars.nominations 6
exemplars.nominations.dlq 1
exemplars.evaluations 6
exemplars.evaluations.dlq 1
exemplars.notifications 6
exemplars.notifications.dlq 1
'
# END TOPICS

topics() {
    "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" "$@"
}

# The broker answers its healthcheck a moment before its metadata is usable: retry a little.
retry() {
    attempt=1
    until "$@"; do
        if [ "$attempt" -ge 5 ]; then
            echo "kafka-init: giving up after $attempt attempts: $*" >&2
            return 1
        fi
        attempt=$((attempt + 1))
        sleep 3
    done
}

existing=$(retry topics --list)

created=0
while read -r name partitions; do
    [ -n "$name" ] || continue
    if printf '%s\n' "$existing" | grep -qxF "$name"; then
        echo "kafka-init: exists   $name"
        continue
    fi
    # shellcheck disable=SC2086  # TOPIC_CONFIG is a list of options
    retry topics --create --if-not-exists --topic "$name" --partitions "$partitions" \
        --replication-factor "$REPLICATION" $TOPIC_CONFIG
    echo "kafka-init: created  $name ($partitions partitions, replication $REPLICATION)"
    created=$((created + 1))
done <<LIST
$TOPICS
LIST

# Check the outcome rather than trusting the exit codes above.
existing=$(retry topics --list)
missing=0
while read -r name partitions; do
    [ -n "$name" ] || continue
    if ! printf '%s\n' "$existing" | grep -qxF "$name"; then
        echo "kafka-init: MISSING  $name" >&2
        missing=$((missing + 1))
    fi
done <<LIST
$TOPICS
LIST

if [ "$missing" -ne 0 ]; then
    echo "kafka-init: $missing topic(s) missing" >&2
    exit 1
fi
echo "kafka-init: done, $created topic(s) created"
