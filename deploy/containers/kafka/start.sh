#!/bin/sh
# Starts the broker, advertising the client listener at the address the host's clients
# use: KAFKA_ADVERTISED_HOST:KAFKA_ADVERTISED_PORT (the port published on the host).
set -eu
host="${KAFKA_ADVERTISED_HOST:-127.0.0.1}"
port="${KAFKA_ADVERTISED_PORT:-9092}"
# exec: the JVM becomes PID 1 and receives the engine's SIGTERM itself.
# shellcheck disable=SC2086 # KAFKA_HEAP_OPTS holds several options on purpose
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
    -cp '/opt/kafka/libs/*' \
    kafka.Kafka /opt/kafka/config/server.properties \
    --override "advertised.listeners=EXTERNAL://${host}:${port},BROKER://127.0.0.1:9094"
