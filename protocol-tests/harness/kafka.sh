#!/usr/bin/env bash
# kafka.sh: runs real Apache Kafka (the Maven Central jars pinned in pom.xml) as plain
# JVMs on loopback for flame-kafka's protocol tests. No Docker needed.
#
#   kafka.sh install                  jars, log4j config, Python venv, Java peer, TLS material
#   kafka.sh start single|cluster     one combined KRaft node (PLAINTEXT/SASL/SSL listeners),
#                                     or three combined KRaft nodes; waits until ready
#   kafka.sh stop [single|cluster|all]
#   kafka.sh status
#   kafka.sh kill-node N | restart-node N | pause-node N | resume-node N    (cluster, N=1..3)
#   kafka.sh env                      `export` lines for the tests: eval "$(kafka.sh env)"
#   kafka.sh logs [single|cluster|N] [LINES]
#   kafka.sh tool CLASS [ARGS...]     run a Kafka tool, e.g. org.apache.kafka.tools.AclCommand
#   kafka.sh clean                    stop everything and delete broker data and logs
#
# State lives in $FLAME_KAFKA_HARNESS_DIR (default <repo>/target/kafka-harness). One harness
# per state dir; a second one on the same machine also needs FLAME_KAFKA_PORT_OFFSET (e.g. 1000).
# Bash 4+, Linux (ps, setsid, /dev/tcp).
set -euo pipefail

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=$HARNESS_DIR/$(basename "${BASH_SOURCE[0]}")
REPO=$(git -C "$HARNESS_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$HARNESS_DIR/../.." && pwd))
STATE=$(realpath -m "${FLAME_KAFKA_HARNESS_DIR:-$REPO/target/kafka-harness}")
PEERS_DIR=$REPO/protocol-tests/peers
LIBS=$STATE/libs
TLS=$STATE/tls
VENV=$STATE/venv
PEER_CLASSES=$STATE/peer-classes

CONFLUENT_KAFKA=confluent-kafka==2.16.1
TLS_PASSWORD=flame-test-pass
SASL_USER=alice
SASL_PASSWORD=alice-secret
SASL_MECHANISMS=(PLAIN SCRAM-SHA-256 SCRAM-SHA-512)
PORT_OFFSET=${FLAME_KAFKA_PORT_OFFSET:-0}
[[ $PORT_OFFSET =~ ^[0-9]+$ ]] || { echo "FLAME_KAFKA_PORT_OFFSET must be a number" >&2; exit 64; }
READY_TIMEOUT=${FLAME_KAFKA_READY_TIMEOUT:-90}   # seconds
STOP_TIMEOUT=${FLAME_KAFKA_STOP_TIMEOUT:-30}     # seconds before SIGKILL
QUORUM_LOST_GRACE=5                              # seconds, see stop_nodes
CLUSTER_NODES=(1 2 3)

# The Java peer, also used for readiness checks.
JAVA_PEER=(java -Xmx256m -XX:+UseSerialGC "-Dlog4j2.configurationFile=$STATE/log4j2-tools.properties"
           -cp "$PEER_CLASSES:$LIBS/*" Peer)

log() { echo "[kafka.sh] $*" >&2; }
die() { log "error: $*"; exit 1; }

# quietly CMD...: runs CMD with its output captured; shows the output only if it fails.
quietly() {
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    if ((rc != 0)); then
        printf '%s\n' "$out" >&2
        die "failed ($rc): $*"
    fi
}

# ------------------------------------------------------------------ node layout
# A node is "single" or a cluster node number 1..3.

node_dir() {
    if [[ $1 == single ]]; then echo "$STATE/single"; else echo "$STATE/cluster/node$1"; fi
}

# "NAME:PORT" for every listener of a node, CONTROLLER last. FLAME_KAFKA_PORT_OFFSET shifts
# every port, so that a second harness (own FLAME_KAFKA_HARNESS_DIR) can share the machine.
node_listeners() {
    local o=$PORT_OFFSET
    if [[ $1 == single ]]; then
        echo "PLAINTEXT:$((19092 + o)) SASL_PLAINTEXT:$((19093 + o)) SSL:$((19094 + o))" \
            "SASL_SSL:$((19095 + o)) CONTROLLER:$((19090 + o))"
    else
        echo "PLAINTEXT:$((29091 + $1 + o)) CONTROLLER:$((29191 + $1 + o))"
    fi
}

listener_port() {   # listener_port NODE NAME
    local l
    for l in $(node_listeners "$1"); do
        if [[ ${l%%:*} == "$2" ]]; then echo "${l#*:}"; fi
    done
}

node_ports() { local l; for l in $(node_listeners "$1"); do echo "${l#*:}"; done; }
node_client_port() { listener_port "$1" PLAINTEXT; }
node_heap() { if [[ $1 == single ]]; then echo 768m; else echo 512m; fi; }

layout_nodes() {
    case $1 in
        single) echo single ;;
        cluster) echo "${CLUSTER_NODES[@]}" ;;
        all) echo single "${CLUSTER_NODES[@]}" ;;
        *) die "unknown layout '$1' (single, cluster or all)" ;;
    esac
}

layout_of() { if [[ $1 == single ]]; then echo single; else echo cluster; fi; }

check_cluster_node() {
    [[ ${1:-} =~ ^[123]$ ]] || die "cluster node must be 1, 2 or 3, got '${1:-}'"
}

# ------------------------------------------------------------------ install

install_libs() {
    local stamp want
    want=$(cksum < "$HARNESS_DIR/pom.xml")
    stamp=$LIBS/.pom-cksum
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then return; fi
    log "copying Kafka jars into $LIBS (mvn dependency:copy-dependencies)"
    rm -rf "$LIBS.tmp"
    quietly mvn -q -B -f "$HARNESS_DIR/pom.xml" dependency:copy-dependencies "-DoutputDirectory=$LIBS.tmp"
    rm -rf "$LIBS"
    mv "$LIBS.tmp" "$LIBS"
    echo "$want" > "$stamp"
}

write_log4j_configs() {
    # Brokers: everything into <node dir>/broker.log (kafka.logs.dir is set per JVM).
    cat > "$STATE/log4j2.properties" <<'EOF'
# Broker logging for the flame-kafka test harness (written by kafka.sh install).
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/broker.log
appender.file.filePattern = ${sys:kafka.logs.dir}/broker.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
EOF
    # Tools and the Java peer: warnings to stderr.
    cat > "$STATE/log4j2-tools.properties" <<'EOF'
# Tool and Java peer logging for the flame-kafka test harness (written by kafka.sh install).
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = err
EOF
}

install_venv() {
    if [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
        return
    fi
    log "creating Python venv with $CONFLUENT_KAFKA in $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    quietly "$VENV/bin/pip" install -q --disable-pip-version-check "$CONFLUENT_KAFKA"
}

compile_java_peer() {
    local src=$PEERS_DIR/java/Peer.java
    if [[ -f $PEER_CLASSES/Peer.class && $PEER_CLASSES/Peer.class -nt $src \
          && $PEER_CLASSES/Peer.class -nt $LIBS/.pom-cksum ]]; then
        return
    fi
    log "compiling $src"
    rm -rf "$PEER_CLASSES.tmp"
    javac -encoding UTF-8 -cp "$LIBS/*" -d "$PEER_CLASSES.tmp" "$src"
    rm -rf "$PEER_CLASSES"
    mv "$PEER_CLASSES.tmp" "$PEER_CLASSES"
}

# OpenSSL config with the X.509 extensions of the test CA, broker and client certs.
write_openssl_config() {
    cat > "$1" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}

# make_ca DIR NAME CN: self-signed CA NAME.pem / NAME.key.
make_ca() {
    quietly openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=$3" \
        -config "$1/openssl.cnf" -extensions ca -keyout "$1/$2.key" -out "$1/$2.pem"
}

# make_cert DIR NAME CN EXTENSIONS: NAME.pem signed by ca.pem, NAME.key as unencrypted PKCS#8.
make_cert() {
    local d=$1 name=$2
    quietly openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$3" -config "$d/openssl.cnf" \
        -keyout "$d/$name.key.tmp" -out "$d/$name.csr"
    quietly openssl pkcs8 -topk8 -nocrypt -in "$d/$name.key.tmp" -out "$d/$name.key"
    quietly openssl x509 -req -sha256 -days 3650 -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -CAserial "$d/ca.srl" -extfile "$d/openssl.cnf" -extensions "$4" \
        -out "$d/$name.pem"
    rm -f "$d/$name.key.tmp" "$d/$name.csr"
}

install_tls() {
    [[ -f $TLS/.complete ]] && return
    log "generating TLS material in $TLS"
    local d=$TLS.tmp
    rm -rf "$d"
    mkdir -p "$d"
    chmod 700 "$d"
    write_openssl_config "$d/openssl.cnf"
    make_ca "$d" ca "flame-kafka test CA"
    make_ca "$d" other-ca "flame-kafka unrelated test CA"
    make_cert "$d" broker localhost server
    make_cert "$d" client flame-kafka-client client
    quietly openssl pkcs12 -export -name broker -in "$d/broker.pem" -inkey "$d/broker.key" \
        -certfile "$d/ca.pem" -passout "pass:$TLS_PASSWORD" -out "$d/broker.keystore.p12"
    quietly keytool -importcert -noprompt -alias flame-kafka-ca -file "$d/ca.pem" -storetype PKCS12 \
        -keystore "$d/broker.truststore.p12" -storepass "$TLS_PASSWORD"
    echo "$TLS_PASSWORD" > "$d/password"
    touch "$d/.complete"
    rm -rf "$TLS"
    mv "$d" "$TLS"
}

cmd_install() {
    mkdir -p "$STATE"
    install_libs
    write_log4j_configs
    install_venv
    compile_java_peer
    install_tls
}

# ------------------------------------------------------------------ server.properties

# SASL (PLAIN + SCRAM for alice), TLS and ACL settings of the single node.
security_properties() {
    local listener mech module
    echo "sasl.enabled.mechanisms=$(IFS=,; echo "${SASL_MECHANISMS[*]}")"
    for listener in sasl_plaintext sasl_ssl; do
        for mech in "${SASL_MECHANISMS[@]}"; do
            if [[ $mech == PLAIN ]]; then
                module="org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER=\"$SASL_PASSWORD\";"
            else
                module="org.apache.kafka.common.security.scram.ScramLoginModule required;"
            fi
            echo "listener.name.$listener.${mech,,}.sasl.jaas.config=$module"
        done
    done
    cat <<EOF
# KIP-368: sessions on the SASL_PLAINTEXT listener last 3 s; the broker closes a
# connection used after its session expired unless the client re-authenticated it, so
# every test over this listener also exercises re-authentication (SASL_SSL keeps the
# default, no expiry).
listener.name.sasl_plaintext.connections.max.reauth.ms=3000
ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS/broker.keystore.p12
ssl.keystore.password=$TLS_PASSWORD
ssl.key.password=$TLS_PASSWORD
ssl.truststore.type=PKCS12
ssl.truststore.location=$TLS/broker.truststore.p12
ssl.truststore.password=$TLS_PASSWORD
listener.name.ssl.ssl.client.auth=requested
# ACLs: anonymous principals (PLAINTEXT, SSL without a client cert, inter-node) are super
# users; SASL users and cert-authenticated clients are allowed unless an ACL names the resource.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true
super.users=User:ANONYMOUS
EOF
}

# write_server_properties NODE: the one place that generates a node's configuration.
write_server_properties() {
    local node=$1 dir id rf isr voters="" listeners="" advertised="" l name port host n
    dir=$(node_dir "$node")
    if [[ $node == single ]]; then
        id=1 rf=1 isr=1 voters="1@127.0.0.1:$(listener_port single CONTROLLER)"
    else
        id=$node rf=3 isr=2
        for n in "${CLUSTER_NODES[@]}"; do
            voters+="${voters:+,}$n@127.0.0.1:$(listener_port "$n" CONTROLLER)"
        done
    fi
    for l in $(node_listeners "$node"); do
        name=${l%%:*} port=${l#*:}
        listeners+="${listeners:+,}$name://127.0.0.1:$port"
        [[ $name == CONTROLLER ]] && continue
        # TLS listeners advertise "localhost" so clients verify the name they bootstrapped with.
        host=127.0.0.1
        [[ $name == *SSL ]] && host=localhost
        advertised+="${advertised:+,}$name://$host:$port"
    done
    {
        echo "# Generated by kafka.sh for node '$node'; rewritten on every start."
        cat <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=true
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
share.coordinator.state.topic.num.partitions=5
group.initial.rebalance.delay.ms=0
# Tests write records with historic timestamps (2001, 2022...); time-based retention
# would delete them at its next check (every 5 min) while a test still reads them.
log.retention.ms=-1
EOF
        if [[ $node == single ]]; then
            security_properties
        else
            # One rack per node, and leaders that name a replica in the consumer's
            # rack to read from (KIP-392, tested by the fetch-from-follower test).
            echo "broker.rack=r$id"
            echo "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector"
        fi
    } > "$dir/server.properties"
}

# ------------------------------------------------------------------ processes

# Prints the pid of a node started by this script, if that process still runs.
node_pid() {
    local dir pid args
    dir=$(node_dir "$1")
    [[ -f $dir/pid ]] || return 1
    pid=$(cat "$dir/pid")
    # Only a JVM running this node's server.properties counts (pids get reused).
    args=$(ps -o args= -p "$pid" 2>/dev/null) || return 1
    [[ $args == *"kafka.Kafka $dir/server.properties"* ]] || return 1
    echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_ports_free() {
    local port
    for port in $(node_ports "$1"); do
        if port_open "$port"; then
            ss -ltnp "sport = :$port" >&2 2>/dev/null || true
            die "port $port (node $1) is already in use by another process; stop it first"
        fi
    done
}

# Cluster id of a layout, created once and shared by its nodes.
layout_cluster_id() {
    local f=$STATE/$1/cluster-id
    if [[ ! -s $f ]]; then
        mkdir -p "$STATE/$1"
        java -Xmx128m "-Dlog4j2.configurationFile=$STATE/log4j2-tools.properties" -cp "$LIBS/*" \
            kafka.tools.StorageTool random-uuid > "$f.tmp"
        mv "$f.tmp" "$f"
    fi
    cat "$f"
}

format_node() {
    local node=$1 dir args=()
    dir=$(node_dir "$node")
    [[ -f $dir/data/meta.properties ]] && return
    if [[ $node == single ]]; then
        local mech
        for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
            args+=(--add-scram "$mech=[name=$SASL_USER,password=$SASL_PASSWORD]")
        done
    fi
    java -Xmx256m "-Dlog4j2.configurationFile=$STATE/log4j2-tools.properties" -cp "$LIBS/*" \
        kafka.tools.StorageTool format -t "$(layout_cluster_id "$(layout_of "$node")")" \
        -c "$dir/server.properties" "${args[@]}" > "$dir/format.log" 2>&1 \
        || { cat "$dir/format.log" >&2; die "formatting node $node failed"; }
}

launch_node() {
    local node=$1 dir pid
    dir=$(node_dir "$node")
    mkdir -p "$dir"
    check_ports_free "$node"
    write_server_properties "$node"
    format_node "$node"
    echo "=== $(date '+%F %T') starting node $node" | tee -a "$dir/stdout.log" >> "$dir/stderr.log"
    # setsid: the broker outlives the shell (and Ctrl-C) that started it; `kafka.sh stop` ends it.
    (
        cd "$dir"
        exec setsid java "-Xmx$(node_heap "$node")" -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
            "-Dlog4j2.configurationFile=$STATE/log4j2.properties" "-Dkafka.logs.dir=$dir" \
            -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
            >> "$dir/stdout.log" 2>> "$dir/stderr.log" < /dev/null
    ) &
    pid=$!
    echo "$pid" > "$dir/pid"
    # Until the subshell has exec'd java, node_pid does not recognise it (its
    # arguments are still this script's), and wait_ready would take the node for
    # dead and stop it: wait for the exec (seen on a loaded machine).
    local tries=0
    until node_pid "$node" > /dev/null || ! kill -0 "$pid" 2> /dev/null || ((++tries > 100)); do
        sleep 0.05
    done
    log "started node $node (pid $pid, log $dir/broker.log)"
}

print_node_logs() {
    local node=$1 lines=${2:-80} dir f
    dir=$(node_dir "$node")
    for f in "$dir/broker.log" "$dir/stderr.log"; do
        [[ -s $f ]] || continue
        echo "==> $f (last $lines lines) <=="
        tail -n "$lines" "$f"
    done
}

# wait_ready NODE...: every node runs and listens, and the cluster metadata lists them all.
wait_ready() {
    local nodes=("$@") deadline node port ids="" left
    deadline=$((SECONDS + READY_TIMEOUT))
    for node in "${nodes[@]}"; do
        ids+="${ids:+,}$([[ $node == single ]] && echo 1 || echo "$node")"
    done
    while true; do
        local all_open=1
        for node in "${nodes[@]}"; do
            if ! node_pid "$node" > /dev/null; then
                log "node $node exited during startup"
                fail_start "${nodes[@]}"
            fi
            for port in $(node_ports "$node"); do port_open "$port" || all_open=0; done
        done
        left=$((deadline - SECONDS))
        if ((all_open)) && "${JAVA_PEER[@]}" metadata --bootstrap "127.0.0.1:$(node_client_port "${nodes[0]}")" \
                --wait-ids "$ids" --timeout-ms "$((left > 1 ? left * 1000 : 1000))" > /dev/null 2>&1; then
            log "ready: node(s) ${nodes[*]}"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            log "node(s) ${nodes[*]} not ready after ${READY_TIMEOUT}s"
            fail_start "${nodes[@]}"
        fi
        sleep 1
    done
}

fail_start() {
    local node
    for node in "$@"; do print_node_logs "$node" 80 >&2; done
    log "stopping node(s) $*"
    stop_nodes "$@"
    exit 1
}

running_cluster_nodes() {
    local n count=0
    for n in "${CLUSTER_NODES[@]}"; do node_pid "$n" > /dev/null && count=$((count + 1)); done
    echo "$count"
}

# stop_nodes NODE...: SIGTERM (controlled shutdown), then SIGKILL after STOP_TIMEOUT.
# A cluster node cannot finish its controlled shutdown without a controller quorum (2 of 3
# voters), so once the quorum is gone the remaining cluster nodes get QUORUM_LOST_GRACE only.
stop_nodes() {
    local node pid deadline quorum_deadline=""
    local -A pids=()
    for node in "$@"; do
        if pid=$(node_pid "$node"); then
            kill -CONT "$pid" 2>/dev/null || true   # a paused JVM cannot handle SIGTERM
            kill -TERM "$pid" 2>/dev/null || true
            pids[$node]=$pid
            log "stopping node $node (pid $pid)"
        fi
    done
    deadline=$((SECONDS + STOP_TIMEOUT))
    while ((${#pids[@]} > 0)); do
        for node in "${!pids[@]}"; do
            kill -0 "${pids[$node]}" 2>/dev/null || unset "pids[$node]"
        done
        if [[ -z $quorum_deadline ]] && (($(running_cluster_nodes) < 2)); then
            quorum_deadline=$((SECONDS + QUORUM_LOST_GRACE))
        fi
        for node in "${!pids[@]}"; do
            if ((SECONDS >= deadline)) || { [[ $node != single && -n $quorum_deadline ]] \
                   && ((SECONDS >= quorum_deadline)); }; then
                log "node $node (pid ${pids[$node]}) did not stop in time; sending SIGKILL"
                kill -KILL "${pids[$node]}" 2>/dev/null || true
                while kill -0 "${pids[$node]}" 2>/dev/null; do sleep 0.1; done
                unset "pids[$node]"
            fi
        done
        ((${#pids[@]} == 0)) || sleep 0.2
    done
    for node in "$@"; do rm -f "$(node_dir "$node")/pid"; done
}

# ------------------------------------------------------------------ commands

cmd_start() {
    local layout=${1:-} nodes node
    [[ $layout == single || $layout == cluster ]] || die "usage: kafka.sh start single|cluster"
    cmd_install
    read -r -a nodes <<< "$(layout_nodes "$layout")"
    for node in "${nodes[@]}"; do
        if node_pid "$node" > /dev/null; then
            log "node $node already running"
        else
            launch_node "$node"
        fi
    done
    wait_ready "${nodes[@]}"
}

cmd_stop() {
    local nodes
    [[ ${1:-all} =~ ^(single|cluster|all)$ ]] || die "usage: kafka.sh stop [single|cluster|all]"
    read -r -a nodes <<< "$(layout_nodes "${1:-all}")"
    stop_nodes "${nodes[@]}"
}

cmd_status() {
    local node pid state
    for node in $(layout_nodes all); do
        if pid=$(node_pid "$node"); then
            state=running
            [[ $(ps -o stat= -p "$pid") == T* ]] && state=paused
            echo "node $node: $state (pid $pid, ports $(node_ports "$node" | xargs))"
        else
            echo "node $node: stopped"
        fi
    done
}

cmd_signal_node() {   # cmd_signal_node SIGNAL N
    local pid
    check_cluster_node "${2:-}"
    pid=$(node_pid "$2") || die "cluster node $2 is not running"
    kill "-$1" "$pid"
    if [[ $1 == KILL ]]; then
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        rm -f "$(node_dir "$2")/pid"
    elif [[ $1 == STOP ]]; then
        # kill returns before every thread of the JVM has stopped; a request sent at
        # once could still be answered. Wait for the stopped state (T), up to 5 s.
        local tries=0
        until [[ $(ps -o stat= -p "$pid" 2>/dev/null) == T* ]] || ((++tries > 100)); do
            sleep 0.05
        done
    fi
    log "sent SIG$1 to cluster node $2 (pid $pid)"
}

cmd_restart_node() {
    check_cluster_node "${1:-}"
    if node_pid "$1" > /dev/null; then die "cluster node $1 is still running"; fi
    launch_node "$1"
    wait_ready "$1"
}

cmd_clean() {
    cmd_stop all
    rm -rf "$STATE/single" "$STATE/cluster"
    log "removed broker data and logs under $STATE"
}

# export NAME='VALUE' (single-quoted for the shell).
emit() {
    local q=\'
    printf "export %s='%s'\n" "$1" "${2//$q/$q\\$q$q}"
}

cmd_env() {
    local n cluster=""
    for n in "${CLUSTER_NODES[@]}"; do cluster+="${cluster:+,}127.0.0.1:$(listener_port "$n" PLAINTEXT)"; done
    emit FLAME_KAFKA_BOOTSTRAP "${FLAME_KAFKA_BOOTSTRAP:-127.0.0.1:$(listener_port single PLAINTEXT)}"
    emit FLAME_KAFKA_SASL_BOOTSTRAP "${FLAME_KAFKA_SASL_BOOTSTRAP:-127.0.0.1:$(listener_port single SASL_PLAINTEXT)}"
    # TLS clients use "localhost", the name in the broker certificate (which also has 127.0.0.1).
    emit FLAME_KAFKA_SSL_BOOTSTRAP "${FLAME_KAFKA_SSL_BOOTSTRAP:-localhost:$(listener_port single SSL)}"
    emit FLAME_KAFKA_SASL_SSL_BOOTSTRAP "${FLAME_KAFKA_SASL_SSL_BOOTSTRAP:-localhost:$(listener_port single SASL_SSL)}"
    emit FLAME_KAFKA_CA "${FLAME_KAFKA_CA:-$TLS/ca.pem}"
    emit FLAME_KAFKA_OTHER_CA "${FLAME_KAFKA_OTHER_CA:-$TLS/other-ca.pem}"
    emit FLAME_KAFKA_CLIENT_CERT "${FLAME_KAFKA_CLIENT_CERT:-$TLS/client.pem}"
    emit FLAME_KAFKA_CLIENT_KEY "${FLAME_KAFKA_CLIENT_KEY:-$TLS/client.key}"
    emit FLAME_KAFKA_SASL_USER "${FLAME_KAFKA_SASL_USER:-$SASL_USER}"
    emit FLAME_KAFKA_SASL_PASSWORD "${FLAME_KAFKA_SASL_PASSWORD:-$SASL_PASSWORD}"
    emit FLAME_KAFKA_CLUSTER_BOOTSTRAP "${FLAME_KAFKA_CLUSTER_BOOTSTRAP:-$cluster}"
    emit FLAME_KAFKA_HARNESS "${FLAME_KAFKA_HARNESS:-$SCRIPT}"
    emit FLAME_KAFKA_JAVA_PEER "${FLAME_KAFKA_JAVA_PEER:-${JAVA_PEER[*]}}"
    emit FLAME_KAFKA_RDKAFKA_PEER "${FLAME_KAFKA_RDKAFKA_PEER:-$VENV/bin/python $PEERS_DIR/rdkafka_peer.py}"
}

cmd_logs() {
    local what=${1:-all} lines=${2:-100} node
    case $what in
        single | cluster | all) ;;
        *) check_cluster_node "$what" ;;
    esac
    for node in $( [[ $what =~ ^[123]$ ]] && echo "$what" || layout_nodes "$what"); do
        print_node_logs "$node" "$lines"
    done
}

cmd_tool() {
    [[ $# -ge 1 ]] || die "usage: kafka.sh tool CLASS [ARGS...]"
    [[ -f $LIBS/.pom-cksum ]] || die "run 'kafka.sh install' first"
    exec java -Xmx256m "-Dlog4j2.configurationFile=$STATE/log4j2-tools.properties" -cp "$LIBS/*" "$@"
}

usage() {
    sed -n '2,/^set -euo/p' "$SCRIPT" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 64
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
        install) cmd_install ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        status) cmd_status ;;
        kill-node) cmd_signal_node KILL "$@" ;;
        pause-node) cmd_signal_node STOP "$@" ;;
        resume-node) cmd_signal_node CONT "$@" ;;
        restart-node) cmd_restart_node "$@" ;;
        env) cmd_env ;;
        logs) cmd_logs "$@" ;;
        clean) cmd_clean ;;
        tool) cmd_tool "$@" ;;
        *) usage ;;
    esac
}

main "$@"
