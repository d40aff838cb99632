# Functions that run Upshift's local stack: a throwaway PostgreSQL cluster, the devbroker and the
# five services, all on loopback and free ports. Sourced by deploy/local/demo.
# Everything started is recorded in $STACK_DIR/pids and stopped by stack_stop.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# A free port below the range the kernel gives outgoing connections, so that no client socket (a
# service's connection to PostgreSQL or the broker) takes it before its server binds it.
free_port() {
  /usr/bin/python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(1000):
    port = random.randrange(max(1024, low - 16384), low)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
}

# Prefix that runs a command as the unprivileged user PostgreSQL requires when we are root. setpriv
# execs in place, so the pid recorded for the server is the server's own and signals reach it.
AS_PG_USER=()
if [ "$(id -u)" -eq 0 ]; then AS_PG_USER=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "timed out waiting for $what" >&2; return 1; fi
    sleep 0.2
  done
}

stack_start_postgres() {
  PG_DATA=$(mktemp -d /tmp/upshift-pg.XXXXXX)
  PG_PORT=$(free_port)
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$PG_DATA"; fi
  "${AS_PG_USER[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 >"$STACK_DIR/initdb.log" 2>&1
  # Upshift's tenant logins prove their password, as on a real hosting server (README: Security).
  { printf 'host all +upshift_tenant_logins 127.0.0.1/32 scram-sha-256\nlocal all +upshift_tenant_logins scram-sha-256\n'
    cat "$PG_DATA/pg_hba.conf"; } >"$PG_DATA/pg_hba.conf.new"
  mv "$PG_DATA/pg_hba.conf.new" "$PG_DATA/pg_hba.conf"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$PG_DATA/pg_hba.conf"; fi
  "${AS_PG_USER[@]}" "$PG_BIN/postgres" -D "$PG_DATA" -p "$PG_PORT" -k "$PG_DATA" -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
    >"$STACK_DIR/postgres.log" 2>&1 &
  echo "$! postgres" >>"$STACK_DIR/pids"
  export PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres
  wait_for 30 "PostgreSQL" psql -X -d postgres -c "SELECT 1"
  psql -X -q -d postgres -c "CREATE DATABASE upshift"
  HOSTING_DB="host=127.0.0.1 port=$PG_PORT user=postgres"
  PLATFORM_DB="$HOSTING_DB dbname=upshift"
}

stack_start_broker() {
  "$BUILD_DIR/tools/devbroker/devbroker" --bootstrap_file="$STACK_DIR/bootstrap" >"$STACK_DIR/devbroker.log" 2>&1 &
  echo "$! devbroker" >>"$STACK_DIR/pids"
  wait_for 20 "the broker" test -s "$STACK_DIR/bootstrap"
  KAFKA_BROKERS=$(cat "$STACK_DIR/bootstrap")
}

# One Ed25519 key pair per service, made for this stack: each service signs the records it writes
# with its private key ($KEY_DIR/<service>.key) and checks every record it reads against the public
# keys in $KEY_DIR/trusted. In production each service gets only its own private key (a Secret).
stack_make_record_keys() {
  KEY_DIR="$STACK_DIR/keys"
  mkdir -p "$KEY_DIR/trusted"
  for service in request status cloner migrator notifier; do
    (umask 077; openssl genpkey -algorithm ed25519 -out "$KEY_DIR/$service.key")
    openssl pkey -in "$KEY_DIR/$service.key" -pubout -out "$KEY_DIR/trusted/$service.pem"
  done
}

# The flags that give `service` its record keys, and its TLS certificate (made for this stack by
# make-certs; every gRPC server and client uses TLS, the gate mTLS).
record_keys() { echo "--record_signing_key=$KEY_DIR/$1.key" "--record_trusted_keys=$KEY_DIR/trusted"; }
tls() { echo "--tls_cert=$TLS_DIR/$1.pem" "--tls_key=$TLS_DIR/$1.key" "--tls_ca=$TLS_DIR/ca.pem"; }

# Starts service NAME in the background with ARGS, its output in $STACK_DIR/NAME.log: the binary of
# $BUILD_DIR, or with STACK_IMAGE set, that container image's (podman on the host network, the
# UPSHIFT_* variables passed in, $STACK_DIR and $CATALOG mounted at the same paths). podman
# forwards the stop signal to the service.
stack_service() {  # NAME ARGS...
  local name=$1; shift
  if [ -n "${STACK_IMAGE:-}" ]; then
    podman run --rm --runtime=runc --network=host --name="upshift-$name-$$" --env='UPSHIFT_*' \
      --volume="$STACK_DIR:$STACK_DIR" --volume="$CATALOG:$CATALOG:ro" "$STACK_IMAGE" "$name" "$@" \
      >"$STACK_DIR/$name.log" 2>&1 &
  else
    "$BUILD_DIR/services/$name/$name" "$@" >"$STACK_DIR/$name.log" 2>&1 &
  fi
  echo "$! $name" >>"$STACK_DIR/pids"
}

stack_start_services() {  # needs CATALOG; OUTBOX_DIR or SMTP_URL
  stack_make_record_keys
  TLS_DIR="$STACK_DIR/tls"
  "$(dirname "${BASH_SOURCE[0]}")/make-certs" "$TLS_DIR" request status cloner migrator notifier
  # An identity provider for the stack: request and status take only its tokens.
  AUTH_DIR="$STACK_DIR/auth"
  "$BUILD_DIR/tools/devtoken/devtoken" keys "$AUTH_DIR"
  local auth=(--jwks_file="$AUTH_DIR/jwks.json" --jwt_issuer=https://idp.upshift.local --jwt_audience=upshift)
  # The image runs as an unprivileged user (uid 10001): it must read the keys and write the outbox.
  if [ -n "${STACK_IMAGE:-}" ]; then
    chmod 755 "$STACK_DIR"
    [ -z "${OUTBOX_DIR:-}" ] || mkdir -p "$OUTBOX_DIR"
    chown -R 10001:10001 "$KEY_DIR" "$TLS_DIR" "$AUTH_DIR" ${OUTBOX_DIR:+"$OUTBOX_DIR"}
  fi
  export UPSHIFT_KAFKA_BROKERS=$KAFKA_BROKERS UPSHIFT_PLATFORM_DB=$PLATFORM_DB UPSHIFT_HOSTING_DB=$HOSTING_DB
  export UPSHIFT_CATALOG=$CATALOG
  # The devbroker's coordinator holds each rebalance for session.timeout.ms less 1 s, and notices a
  # dead member after session.timeout.ms; a short one keeps restarts quick locally. Its broker
  # answers a fetch that finds nothing only after fetch.wait.max.ms, even when records arrive
  # meanwhile: a short wait keeps each hop between services at milliseconds instead of up to half a
  # second. Real clusters answer as records arrive and keep librdkafka's defaults.
  export UPSHIFT_KAFKA_PROPERTIES=session.timeout.ms=3000,heartbeat.interval.ms=500,fetch.wait.max.ms=10
  # The workers' health servers on any free loopback port: nothing probes them locally, and two
  # stacks on one machine must not collide.
  export UPSHIFT_HEALTH_LISTEN=127.0.0.1:0
  # /metrics too (each service logs its port at start).
  export UPSHIFT_METRICS_LISTEN=127.0.0.1:0
  REQUEST_PORT=$(free_port)
  STATUS_PORT=$(free_port)
  GATE_PORT=$(free_port)
  stack_service request $(record_keys request) $(tls request) "${auth[@]}" --listen="127.0.0.1:$REQUEST_PORT" \
    --gate_listen="127.0.0.1:$GATE_PORT"
  stack_service status $(record_keys status) $(tls status) "${auth[@]}" --listen="127.0.0.1:$STATUS_PORT" \
    --gate_addr="127.0.0.1:$GATE_PORT"
  stack_service cloner $(record_keys cloner) $(tls cloner) --pg_bin_dir="$PG_BIN" --gate_addr="127.0.0.1:$GATE_PORT"
  stack_service migrator $(record_keys migrator) $(tls migrator) --gate_addr="127.0.0.1:$GATE_PORT"
  stack_service notifier $(record_keys notifier) $(tls notifier) --outbox_dir="$OUTBOX_DIR" --smtp_url="${SMTP_URL:-}" \
    --connect_hint="host=127.0.0.1 port=$PG_PORT" --gate_addr="127.0.0.1:$GATE_PORT"
  unset UPSHIFT_KAFKA_BROKERS UPSHIFT_PLATFORM_DB UPSHIFT_HOSTING_DB UPSHIFT_CATALOG UPSHIFT_KAFKA_PROPERTIES
  # upgradectl acts as a customer would, with a customer's token in UPSHIFT_TOKEN (stack_customer_token).
  CTL=("$BUILD_DIR/tools/upgradectl/upgradectl" --request_addr="127.0.0.1:$REQUEST_PORT"
       --status_addr="127.0.0.1:$STATUS_PORT" --tls_ca="$TLS_DIR/ca.pem")
  wait_for 30 "the request and status services" "${CTL[@]}" health --timeout=1s
}

# A customer's token for upgradectl (reading, Test and Production orders): TENANT is the role that
# owns the customer's databases on the hosting server (generate --owner).
stack_customer_token() {  # TENANT
  "$BUILD_DIR/tools/devtoken/devtoken" mint "$AUTH_DIR" --subject="$1-admin" --tenant="$1" \
    --scopes=upgrades.read,upgrades.test,upgrades.production
}

# Stops everything in reverse order of start: SIGTERM, then SIGKILL after 20 s.
stack_stop() {
  [ -f "$STACK_DIR/pids" ] || return 0
  tac "$STACK_DIR/pids" | while read -r pid name; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$STACK_DIR/pids"
  if [ -n "${PG_DATA:-}" ]; then rm -rf "$PG_DATA"; fi
}
