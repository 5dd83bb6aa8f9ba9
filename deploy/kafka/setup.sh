#!/usr/bin/env bash
# govx Kafka principals and ACLs: docker-compose.yml's kafka-setup job, run
# in the apache/kafka image with the broker's network namespace
# (network_mode: service:kafka). Idempotent: run it again after changing a
# password or adding an exchange instance.
#
# 1. The admin's SCRAM credential is made over the broker's loopback-only
#    PLAINTEXT listener (INTERNAL, 127.0.0.1:19092), where the principal is
#    User:ANONYMOUS, a super user reachable from inside the kafka container
#    alone. Nothing else is done there.
# 2. Everything else is done as admin, authenticated with SCRAM-SHA-512 on
#    the client listener (kafka:9092), with kafka's own scripts.
#
# Environment (from .env through docker-compose.yml; never in this file):
#   GOVX_KAFKA_PASSWORD_ADMIN                  principal admin (super user)
#   GOVX_EXCHANGE_INSTANCES                    exchange instances, space-separated (exchange-1)
#   GOVX_KAFKA_PASSWORD_EXCHANGE_<INSTANCE>    principal exchange-<instance>; INSTANCE upper-cased, - as _
#   GOVX_KAFKA_PASSWORD_POPULATION             principal adapter-population
#   GOVX_KAFKA_PASSWORD_MARKET_REGULATION      principal adapter-market-regulation
#   GOVX_KAFKA_PASSWORD_LICENSING              principal adapter-licensing
#   GOVX_KAFKA_PASSWORD_CASEWORK               principal casework
# Passwords: at least 16 characters of [A-Za-z0-9_-] (kafka-configs.sh's
# SCRAM syntax takes no commas, brackets or equals signs).
set -euo pipefail

bin=/opt/kafka/bin
internal=127.0.0.1:19092
client=kafka:9092
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

password() {
	local var=$1 value=${!1-}
	if [[ ! $value =~ ^[A-Za-z0-9_-]{16,}$ ]]; then
		echo "kafka-setup: $var must be set to at least 16 characters of A-Z a-z 0-9 _ -" >&2
		exit 1
	fi
	printf '%s' "$value"
}

# scram USER PASSWORD_VAR BOOTSTRAP [--command-config FILE]
scram() {
	local user=$1 pw
	pw=$(password "$2")
	shift 2
	"$bin/kafka-configs.sh" --bootstrap-server "$@" --alter --entity-type users --entity-name "$user" \
		--add-config "SCRAM-SHA-512=[iterations=8192,password=$pw]" >/dev/null
	echo "kafka-setup: SCRAM-SHA-512 credential of $user set"
}

echo "kafka-setup: waiting for the broker"
for _ in $(seq 1 60); do
	"$bin/kafka-broker-api-versions.sh" --bootstrap-server "$internal" >/dev/null 2>&1 && break
	sleep 2
done

scram admin GOVX_KAFKA_PASSWORD_ADMIN "$internal"

cat >"$work/admin.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(password GOVX_KAFKA_PASSWORD_ADMIN)";
EOF
admin=("$client" --command-config "$work/admin.properties")

# acl PRINCIPAL OPERATION... -- RESOURCE ARGS
acl() {
	local principal=$1 ops=()
	shift
	while [[ $1 != -- ]]; do ops+=(--operation "$1"); shift; done
	shift
	"$bin/kafka-acls.sh" --bootstrap-server "${admin[@]}" --add --allow-principal "User:$principal" "${ops[@]}" "$@" >/dev/null
}

# Exchange instances: each sends requests to every department, reads its own
# reply topic, reads every event topic (subscriptions, the case workflow's
# among them), and creates the topics it ensures at start (request, reply
# and event topics). While the case workflow runs in the exchange's process
# on its connection, the instance also carries the workflow's grant:
# writing case events.
for instance in ${GOVX_EXCHANGE_INSTANCES:-exchange-1}; do
	p=exchange-$instance
	var=GOVX_KAFKA_PASSWORD_EXCHANGE_$(tr 'a-z-' 'A-Z_' <<<"$instance")
	scram "$p" "$var" "${admin[@]}"
	acl "$p" Write Create -- --topic govx.requests. --resource-pattern-type prefixed
	acl "$p" Read Describe Create -- --topic "govx.replies.$instance"
	acl "$p" Read Describe Create -- --topic govx.events. --resource-pattern-type prefixed
	acl "$p" Write -- --topic govx.events.casework.case
	# To answer provider_unavailable at once when a department's group has
	# no member left, instead of after the timeout.
	acl "$p" Describe -- --group govx.adapter. --resource-pattern-type prefixed
	echo "kafka-setup: ACLs of $p"
done

# Departments: read their own request topic in their consumer group, answer
# on any reply topic, publish their own resources' events and dead letters.
# adapter DEPARTMENT PASSWORD_VAR EVENT_TOPIC [prefixed]
adapter() {
	local dept=$1 p=adapter-$1 var=$2 events=$3 pattern=${4:-literal}
	scram "$p" "$var" "${admin[@]}"
	acl "$p" Read Describe Create -- --topic "govx.requests.$dept"
	acl "$p" Read -- --group "govx.adapter.$dept"
	acl "$p" Write -- --topic govx.replies. --resource-pattern-type prefixed
	acl "$p" Write Describe Create -- --topic "$events" --resource-pattern-type "$pattern"
	acl "$p" Write Describe Create -- --topic "govx.dlq.$dept"
	echo "kafka-setup: ACLs of $p"
}
adapter population GOVX_KAFKA_PASSWORD_POPULATION govx.events.population.identity
adapter market-regulation GOVX_KAFKA_PASSWORD_MARKET_REGULATION govx.events.legal-entity.status
adapter licensing GOVX_KAFKA_PASSWORD_LICENSING govx.events.licence. prefixed

# The case workflow, for when it connects as itself: it publishes case
# events and reads nothing (register changes reach it through the
# exchange's event subscription, audited there).
scram casework GOVX_KAFKA_PASSWORD_CASEWORK "${admin[@]}"
acl casework Write Describe Create -- --topic govx.events.casework.case
echo "kafka-setup: ACLs of casework"

"$bin/kafka-acls.sh" --bootstrap-server "${admin[@]}" --list
