#!/usr/bin/env bash
# `make run`: starts the embedded default on loopback and stays in the foreground until Ctrl-C:
# the Temporal dev server (data kept in .run/ between runs), the Portico gateway and worker (with
# the C activities and workflows of examples/, and the flows of examples/flows), and the example
# workflow worker (examples/workflows/worker.py, Temporal's Python SDK).
# Ports: TEMPORAL_PORT (7233), TEMPORAL_UI_PORT (8233), TEMPORAL_HTTP_PORT (7243), PORTICO_PORT (8080),
# PORTICO_WORKER_METRICS_PORT (9464). BUILD (build) is where the programs are, as for make;
# PORTICO_RUN_DIR (.run) holds Temporal's data, the development key and secret, and the logs.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
grpc_port=${TEMPORAL_PORT:-7233}
ui_port=${TEMPORAL_UI_PORT:-8233}
http_port=${TEMPORAL_HTTP_PORT:-7243}
portico_port=${PORTICO_PORT:-8080}
metrics_port=${PORTICO_WORKER_METRICS_PORT:-9464}
build=${BUILD:-build}
run=${PORTICO_RUN_DIR:-.run}
mkdir -p "$run"

# Encryption is on from the first run, with a key made for this checkout only.
keys=$run/dev-codec-keys
if [ ! -s "$keys" ]; then
	(umask 077 && echo "portico-dev-key-not-for-production=$(head -c 32 /dev/urandom | base64)" >"$keys")
fi

# The example webhook (examples/webhooks.json) checks GitHub-style signatures with a secret made
# here the same way.
webhook_secret_file=$run/dev-github-webhook-secret
if [ ! -s "$webhook_secret_file" ]; then
	(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$webhook_secret_file")
fi
webhook_secret=$(cat "$webhook_secret_file")

# Completion webhooks are signed (Standard Webhooks) with a secret made here too; they may go to
# the example listener on 127.0.0.1:9000 (examples/completion-webhook/listener.py).
callback_secret_file=$run/dev-callback-secret
if [ ! -s "$callback_secret_file" ]; then
	(umask 077 && echo "whsec_$(head -c 24 /dev/urandom | base64)" >"$callback_secret_file")
fi
callback_secret=$(cat "$callback_secret_file")

pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "run: stopping"
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

wait_for_port() {
	local port=$1 name=$2 pid=$3
	for _ in $(seq 1 600); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { echo "run: $name exited; see $run/*.log" >&2; exit 1; }
		sleep 0.1
	done
	echo "run: $name did not listen on 127.0.0.1:$port within 60 s" >&2
	exit 1
}

.tools/bin/temporal server start-dev --ip 127.0.0.1 --port "$grpc_port" --ui-port "$ui_port" \
	--http-port "$http_port" --db-filename "$run/temporal.db" --log-level warn \
	--dynamic-config-value "component.callbacks.allowedAddresses=[{\"Pattern\":\"127.0.0.1:$portico_port\",\"AllowInsecure\":true}]" \
	--ui-codec-endpoint "http://127.0.0.1:$portico_port/codec" >"$run/temporal.log" 2>&1 &
pids+=($!)
wait_for_port "$grpc_port" "the Temporal dev server" "${pids[0]}"

TEMPORAL_ADDRESS=127.0.0.1:$grpc_port PORTICO_LISTEN=127.0.0.1:$portico_port \
	PORTICO_CODEC_KEYS_FILE="$keys" \
	PORTICO_AUTH=off PORTICO_WEBHOOKS_FILE=examples/webhooks.json GITHUB_WEBHOOK_SECRET="$webhook_secret" \
	PORTICO_FLOWS_DIR=examples/flows \
	PORTICO_CODEC_CORS_ORIGINS="http://127.0.0.1:$ui_port,http://localhost:$ui_port" \
	PORTICO_CALLBACK_SECRET="$callback_secret" PORTICO_CALLBACK_ALLOWED_URLS=http://127.0.0.1:9000/ \
	"$build/portico" >"$run/portico.log" 2>&1 &
pids+=($!)
wait_for_port "$portico_port" "the Portico gateway" "${pids[1]}"

# The gateway's warnings go to its log with everything else, but the one saying that anyone who
# reaches it may drive Temporal (authentication is off) belongs in front of whoever runs this:
# its start-up warnings are repeated below the banner.
for _ in $(seq 1 50); do
	grep -q '"level":"warn"' "$run/portico.log" && break
	sleep 0.1
done
gateway_warnings=$(.venv/bin/python - "$run/portico.log" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if isinstance(entry, dict) and entry.get("level") == "warn":
        print("WARNING (gateway):", entry.get("message"))
PY
)

TEMPORAL_ADDRESS=127.0.0.1:$grpc_port PORTICO_CODEC_KEYS_FILE="$keys" PORTICO_FLOWS_DIR=examples/flows \
		PORTICO_WORKER_METRICS_LISTEN=127.0.0.1:$metrics_port "$build/portico-worker" \
	--activities "$build/examples/liborder.so" --activities "$build/examples/libgreet.so" \
	--activities "$build/examples/libcountdown.so" --activities "$build/examples/libwaiting.so" \
	--workflows "$build/examples/libworkflows.so" >"$run/portico-worker.log" 2>&1 &
pids+=($!)

PORTICO_CODEC_KEYS_FILE="$keys" PORTICO_URL=http://127.0.0.1:$portico_port \
	.venv/bin/python examples/workflows/worker.py --address 127.0.0.1:$grpc_port >"$run/examples-worker.log" 2>&1 &
pids+=($!)

gateway=http://127.0.0.1:$portico_port
cat <<MSG

Portico is up (Ctrl-C stops everything):
  Portico gateway    $gateway/api/v1/namespaces/default/workflows   (health: $gateway/readyz)
  Temporal Web UI    http://127.0.0.1:$ui_port
  Temporal gRPC      127.0.0.1:$grpc_port
  Temporal HTTP API  http://127.0.0.1:$http_port   (Temporal's own, for comparison)
  API docs           $gateway/docs   (OpenAPI: $gateway/openapi.yaml)
  Metrics            $gateway/metrics, http://127.0.0.1:$metrics_port/metrics (worker; /healthz, /readyz)
  Codec endpoint     $gateway/codec   (the Web UI decrypts through it)
  Portico worker     task queue "portico": http.request, order.*, example.greet, example.countdown, …
                     and the workflows in C c.OrderSaga, c.Approval, c.Greeting (examples/workflows-c)
  Flows              $gateway/api/v1/namespaces/default/flows   order-saga, approval, github-push
                     (examples/flows: Serverless Workflow YAML, run by the Portico worker)
  Example workflows  task queue "portico-examples": OrderSaga, Approval, GitHubPush, Greet (examples/README.md)
  Webhooks           $gateway/webhooks/github-push, …/github-push-flow   (GitHub-style signatures, secret in
                     $webhook_secret_file)
  Logs               $run/temporal.log, $run/portico.log (one JSON line per request), $run/portico-worker.log,
                     $run/examples-worker.log

Payloads are encrypted with a DEVELOPMENT key made for this checkout ($keys):
Temporal stores only ciphertext. Do not use this key for anything real.

Try it: an order saga, then the same order with a failure injected at shipping (compensated):
  curl -s -X POST '$gateway/api/v1/namespaces/default/workflows/order-1?wait=30s' \\
       -d '{"workflowType": "OrderSaga", "taskQueue": "portico-examples", "args": [{"orderId": "1", "amount": 42.5}]}'
  curl -s -X POST '$gateway/api/v1/namespaces/default/workflows/order-2?wait=30s' \\
       -d '{"workflowType": "OrderSaga", "taskQueue": "portico-examples", "args": [{"orderId": "2", "amount": 10, "failAt": "ship"}]}'

The same saga as a flow (examples/flows/order-saga.yaml, Serverless Workflow YAML), started with its input:
  curl -s -X POST '$gateway/api/v1/namespaces/default/flows/order-saga?wait=30s' \\
       -d '{"orderId": "4", "amount": 42.5}'

The saga's result pushed to you when it completes (a signed completion webhook), received by a
small listener that checks the signature (run it in another terminal first):
  PORTICO_CALLBACK_SECRET=\$(cat $callback_secret_file) .venv/bin/python examples/completion-webhook/listener.py
  curl -s -X POST '$gateway/api/v1/namespaces/default/workflows/order-3' \\
       -d '{"workflowType": "OrderSaga", "taskQueue": "portico-examples", "args": [{"orderId": "3", "amount": 7}],
            "completionWebhook": "http://127.0.0.1:9000/orders"}'

A signed GitHub-style push (starts the pipeline GitHubPush, examples/webhook-pipeline/README.md):
  SECRET=\$(cat $webhook_secret_file)
  body='{"ref": "refs/heads/main", "after": "9f2c1e7d5b3a41c8", "repository": {"full_name": "acme/shop"}}'
  curl -s -X POST $gateway/webhooks/github-push -H 'X-GitHub-Event: push' \\
       -H "X-GitHub-Delivery: \$(cat /proc/sys/kernel/random/uuid)" -d "\$body" \\
       -H "X-Hub-Signature-256: sha256=\$(printf %s "\$body" | openssl dgst -sha256 -hmac "\$SECRET" -r | cut -d' ' -f1)"
MSG
if [ -n "$gateway_warnings" ]; then
	printf '\n%s\n' "$gateway_warnings"
fi
wait -n "${pids[@]}"
