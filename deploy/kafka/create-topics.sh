#!/bin/sh
# One-shot job of docker-compose.yml (service `kafka-init`, apache/kafka image): creates every
# topic of shared/topics.py on the compose Kafka with its retention, and brings the retention
# of topics that already exist to the configured one. Idempotent, so it runs on every `up`.
#
# Retention is a setting per topic (shared/retention.py says why): event topics keep their
# records forever (-1: the log is the source of truth and projections are rebuilt from
# offset 0), dead-letter topics 30 days (time to inspect and replay a dead letter, no more,
# since it may carry personal data in clear). TOPIC_RETENTION (the KAFKA_TOPIC_RETENTION of
# .env) overrides them, e.g. `exemplars.nominations.intake.dlq=14d,exemplars.directory.dlq=90d`,
# with the rules of shared/retention.py: `forever` or 1 to 9 digits followed by d, h or ms; an
# unknown topic, a topic given twice or another value stops the job before the broker is
# touched. A retention changed by hand with kafka-configs.sh is set back here on the next
# `up`: the setting is where retention is decided.
#
# The broker runs with topic auto-creation disabled, so a topic missing here is an error in
# the services, not a silently created topic with the wrong partitions.
#
# The list below must name exactly the topics of shared.topics.all_topic_names(), with the
# partitions of shared.topics.TOPICS (dead-letter topics: 1) and the default retention of
# shared.retention. tests/unit/test_compose.py fails when they drift apart, and runs this
# script against stand-ins of the Kafka tools to check it parses TOPIC_RETENTION as Python does.
set -eu

BOOTSTRAP="${BOOTSTRAP_SERVERS:-kafka:9092}"
REPLICATION="${TOPIC_REPLICATION_FACTOR:-1}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"

# BEGIN TOPICS (name partitions retention.ms)
TOPICS='
exemplars.nominations.intake 6 -1
exemplars.nominations.intake.dlq 1 2592000000
exemplars.evaluations.intake 6 -1
exemplars.evaluations.intake.dlq 1 2592000000
exemplars.directory 6 -1
exemplars.directory.dlq 1 2592000000
exemplars.nominations 6 -1
exemplars.nominations.dlq 1 2592000000
exemplars.evaluations 6 -1
exemplars.evaluations.dlq 1 2592000000
exemplars.notifications 6 -1
exemplars.notifications.dlq 1 2592000000
'
# END TOPICS

die() {
    echo "kafka-init: $*" >&2
    exit 1
}

trim() {
    printf '%s' "$1" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'
}

names() {
    printf '%s\n' "$1" | awk 'NF { print $1 }'
}

# Milliseconds of `forever`, `30d`, `12h` or `5000ms`; fails on anything else. Nine digits at
# most keep the product inside the shell's 64-bit arithmetic.
to_ms() {
    case "$1" in
        forever) echo -1; return 0 ;;
        *ms) number=${1%ms}; factor=1 ;;
        *d) number=${1%d}; factor=86400000 ;;
        *h) number=${1%h}; factor=3600000 ;;
        *) return 1 ;;
    esac
    case "$number" in
        "" | 0* | *[!0-9]*) return 1 ;;
    esac
    [ "${#number}" -le 9 ] || return 1
    echo $((number * factor))
}

# ---- the plan: every topic with its partitions and retention, before the broker is asked ----

known=$(names "$TOPICS" | awk '{ printf "%s%s", sep, $0; sep = ", " }')
first_dlq=$(names "$TOPICS" | awk '/\.dlq$/ { print; exit }')
OVERRIDES=''
items=$(printf '%s\n' "${TOPIC_RETENTION:-}" | tr ',' '\n')
while IFS= read -r item; do
    item=$(trim "$item")
    [ -n "$item" ] || continue
    case "$item" in
        *=*) ;;
        *) die "TOPIC_RETENTION: '$item': write topic=duration, e.g. $first_dlq=14d" ;;
    esac
    name=$(trim "${item%%=*}")
    value=$(trim "${item#*=}")
    names "$TOPICS" | grep -qxF -- "$name" || die "TOPIC_RETENTION: '$item': unknown topic '$name' (known: $known)"
    if names "$OVERRIDES" | grep -qxF -- "$name"; then
        die "TOPIC_RETENTION: '$item': $name is given twice"
    fi
    ms=$(to_ms "$value") || die "TOPIC_RETENTION: '$item': give forever or 1 to 9 digits followed by d, h or ms (e.g. 30d, 12h, 5000ms)"
    OVERRIDES="$OVERRIDES
$name $ms"
done <<ITEMS
$items
ITEMS

PLAN=''
while read -r name partitions retention; do
    [ -n "$name" ] || continue
    override=$(printf '%s\n' "$OVERRIDES" | awk -v topic="$name" '$1 == topic { print $2 }')
    retention=${override:-$retention}
    case "$name" in
        *.dlq) ;;
        *) [ "$retention" = -1 ] || echo "kafka-init: warning: $name keeps $retention ms only: a rebuild from offset 0 will not see what has expired" >&2 ;;
    esac
    PLAN="$PLAN
$name $partitions $retention"
done <<LIST
$TOPICS
LIST

# ---- the broker ----------------------------------------------------------------------------

topics() {
    "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" "$@"
}

configs() {
    "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" "$@"
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

# "topic retention.ms" for every topic whose retention.ms is set (one JVM for all topics):
# kafka-configs.sh prints "Dynamic configs for topic NAME are:", then "  key=value sensitive=...".
retention_now() {
    described=$(retry configs --describe --entity-type topics)
    printf '%s\n' "$described" | awk '
        /^Dynamic configs for topic .* are:$/ { topic = $5; next }
        /^[^ ]/ { topic = "" }
        topic != "" && $1 ~ /^retention\.ms=/ { sub(/^retention\.ms=/, "", $1); print topic, $1 }'
}

existing=$(retry topics --list)

created=0
while read -r name partitions retention; do
    [ -n "$name" ] || continue
    if printf '%s\n' "$existing" | grep -qxF "$name"; then
        echo "kafka-init: exists   $name"
        continue
    fi
    retry topics --create --if-not-exists --topic "$name" --partitions "$partitions" \
        --replication-factor "$REPLICATION" --config "retention.ms=$retention" --config cleanup.policy=delete
    echo "kafka-init: created  $name ($partitions partitions, replication $REPLICATION, retention.ms $retention)"
    created=$((created + 1))
done <<LIST
$PLAN
LIST

# Existing topics take the configured retention (set, not replaced: their other configs stay).
now=$(retention_now)
changed=0
while read -r name partitions retention; do
    [ -n "$name" ] || continue
    current=$(printf '%s\n' "$now" | awk -v topic="$name" '$1 == topic { print $2 }')
    [ "$current" = "$retention" ] && continue
    retry configs --alter --entity-type topics --entity-name "$name" --add-config "retention.ms=$retention"
    echo "kafka-init: retention $name: ${current:-unset} -> $retention ms"
    changed=$((changed + 1))
done <<LIST
$PLAN
LIST

# Check the outcome rather than trusting the exit codes above.
existing=$(retry topics --list)
now=$(retention_now)
wrong=0
while read -r name partitions retention; do
    [ -n "$name" ] || continue
    if ! printf '%s\n' "$existing" | grep -qxF "$name"; then
        echo "kafka-init: MISSING  $name" >&2
        wrong=$((wrong + 1))
        continue
    fi
    current=$(printf '%s\n' "$now" | awk -v topic="$name" '$1 == topic { print $2 }')
    if [ "$current" != "$retention" ]; then
        echo "kafka-init: RETENTION $name is ${current:-unset}, not $retention" >&2
        wrong=$((wrong + 1))
    fi
done <<LIST
$PLAN
LIST

if [ "$wrong" -ne 0 ]; then
    echo "kafka-init: $wrong topic(s) missing or with another retention" >&2
    exit 1
fi
echo "kafka-init: done, $created topic(s) created, retention changed on $changed"
