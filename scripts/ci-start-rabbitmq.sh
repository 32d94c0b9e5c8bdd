#!/usr/bin/env bash
# Starts the Debian RabbitMQ on 5672 for the interop suite's reference runs, if it is not up.
set -uo pipefail
if rabbitmqctl status >/dev/null 2>&1; then exit 0; fi
# Raise the open-files limit first: started through su the node gets 1024 (~830 sockets).
su rabbitmq -s /bin/sh -c "ulimit -n 20000; cd /var/lib/rabbitmq; /usr/lib/rabbitmq/bin/rabbitmq-server -detached" || exit 1
for _ in $(seq 1 60); do
  rabbitmqctl await_startup >/dev/null 2>&1 && exit 0
  sleep 1
done
exit 1
