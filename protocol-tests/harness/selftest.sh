#!/usr/bin/env bash
# selftest.sh: end-to-end check of the real-Kafka harness and both peers. Starts the single
# node and the three-node cluster, moves messages between the Java and librdkafka peers over
# every listener, checks SASL/TLS failures, ACLs, transactions, the key partitioner and the
# cluster fault commands, then stops everything (keep the brokers running with --keep).
# Beside a harness already in use, run it with its own FLAME_KAFKA_HARNESS_DIR and
# FLAME_KAFKA_PORT_OFFSET (see kafka.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAFKA=$HERE/kafka.sh
KEEP=0
[[ ${1:-} == --keep ]] && KEEP=1

# Test this harness's brokers, not external ones a caller may have exported.
unset FLAME_KAFKA_BOOTSTRAP FLAME_KAFKA_SASL_BOOTSTRAP FLAME_KAFKA_SSL_BOOTSTRAP \
    FLAME_KAFKA_SASL_SSL_BOOTSTRAP FLAME_KAFKA_CLUSTER_BOOTSTRAP FLAME_KAFKA_CA \
    FLAME_KAFKA_OTHER_CA FLAME_KAFKA_CLIENT_CERT FLAME_KAFKA_CLIENT_KEY FLAME_KAFKA_SASL_USER \
    FLAME_KAFKA_SASL_PASSWORD FLAME_KAFKA_HARNESS FLAME_KAFKA_JAVA_PEER FLAME_KAFKA_RDKAFKA_PEER
eval "$("$KAFKA" env)"
read -r -a JAVA <<< "$FLAME_KAFKA_JAVA_PEER"
read -r -a RDKAFKA <<< "$FLAME_KAFKA_RDKAFKA_PEER"
IFS=, read -r -a NODE_ADDR <<< "$FLAME_KAFKA_CLUSTER_BOOTSTRAP"   # cluster nodes 1, 2, 3
SASL=(--security-protocol SASL_PLAINTEXT --sasl-username "$FLAME_KAFKA_SASL_USER"
      --sasl-password "$FLAME_KAFKA_SASL_PASSWORD")
RUN=$(date +%s)-$$
WORK=$(mktemp -d)
PASSED=0
FAILED=0

cleanup() {
    if ((KEEP)); then echo "(--keep: brokers left running; stop with $KAFKA stop)"; else "$KAFKA" stop; fi
    rm -rf "$WORK"
}
trap 'rm -rf "$WORK"' EXIT   # `cleanup` takes over once the brokers are ours (see main)

# JSON-lines helpers: gen TOPIC N PREFIX | digest FILE | values FILE | parts FILE | offsets-ok FILE
cat > "$WORK/jl.py" <<'EOF'
import base64, json, sys
cmd, args = sys.argv[1], sys.argv[2:]
enc = lambda s: base64.b64encode(s.encode()).decode()
dec = lambda s: None if s is None else base64.b64decode(s).decode()
lines = lambda f: [json.loads(l) for l in open(f) if l.strip()]
if cmd == "gen":      # N messages with key, value and two headers (one null)
    topic, n, prefix = args[0], int(args[1]), args[2]
    for i in range(n):
        print(json.dumps({"topic": topic, "partition": None, "offset": None,
                          "key": enc(f"key-{i}"), "value": enc(f"{prefix}-{i}"),
                          "headers": [["seq", enc(str(i))], ["empty", None]], "timestamp": None}))
elif cmd == "digest":  # key|value|headers, sorted: what must survive a round trip
    for d in sorted(f"{dec(m['key'])}|{dec(m['value'])}|{[[h[0], dec(h[1])] for h in m['headers']]}"
                    for m in lines(args[0])):
        print(d)
elif cmd == "values":
    for v in sorted(dec(m["value"]) for m in lines(args[0])):
        print(v)
elif cmd == "parts":   # base64 key and partition, in file order
    for m in lines(args[0]):
        print(m["key"], m["partition"])
elif cmd == "offsets-ok":  # every message has a partition and an offset
    ms = lines(args[0])
    sys.exit(0 if ms and all(m["partition"] is not None and m["offset"] is not None for m in ms) else 1)
EOF
jl() { python3 "$WORK/jl.py" "$@"; }

# check NAME FUNCTION...: runs a test function, records PASS/FAIL.
check() {
    local name=$1 start=$SECONDS
    shift
    # Not inside `if`: there bash would ignore `set -e` in the test function.
    set +e
    (set -e; "$@") > "$WORK/$name.log" 2>&1
    local rc=$?
    set -e
    if ((rc == 0)); then
        echo "PASS $name ($((SECONDS - start))s)"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL $name ($((SECONDS - start))s); last output:"
        tail -n 25 "$WORK/$name.log" | sed 's/^/    /'
        FAILED=$((FAILED + 1))
    fi
}

# expect_exit CODE CMD...: CMD must exit with CODE.
expect_exit() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [[ $rc == "$want" ]] || { echo "expected exit $want, got $rc: $*"; return 1; }
}

same() { diff <(jl "$1" "$2") <(jl "$1" "$3"); }

# ------------------------------------------------------------------ single node

t_env_keeps_external() {
    local env
    env=$(FLAME_KAFKA_BOOTSTRAP=broker.example:9092 "$KAFKA" env)
    grep -qx "export FLAME_KAFKA_BOOTSTRAP='broker.example:9092'" <<< "$env"
}

t_java_to_rdkafka() {
    local t=selftest-j2r-$RUN
    jl gen "$t" 10 j2r > "$WORK/j2r.in"
    "${JAVA[@]}" produce --bootstrap "$FLAME_KAFKA_BOOTSTRAP" --compression zstd < "$WORK/j2r.in" > "$WORK/j2r.sent"
    jl offsets-ok "$WORK/j2r.sent"
    "${RDKAFKA[@]}" consume --bootstrap "$FLAME_KAFKA_BOOTSTRAP" --topic "$t" --count 10 > "$WORK/j2r.got"
    same digest "$WORK/j2r.in" "$WORK/j2r.got"
}

t_rdkafka_to_java() {
    local t=selftest-r2j-$RUN
    jl gen "$t" 10 r2j > "$WORK/r2j.in"
    "${RDKAFKA[@]}" produce --bootstrap "$FLAME_KAFKA_BOOTSTRAP" --compression lz4 < "$WORK/r2j.in" > "$WORK/r2j.sent"
    jl offsets-ok "$WORK/r2j.sent"
    "${JAVA[@]}" consume --bootstrap "$FLAME_KAFKA_BOOTSTRAP" --topic "$t" --count 10 \
        --group "selftest-$RUN" --from-beginning > "$WORK/r2j.got"
    same digest "$WORK/r2j.in" "$WORK/r2j.got"
}

# The Java peer's `partition` mode, the Java producer and librdkafka's murmur2_random agree.
t_key_partitioner() {
    local t=selftest-murmur-$RUN
    jl gen "$t" 20 murmur > "$WORK/m.in"
    "${JAVA[@]}" produce --bootstrap "$FLAME_KAFKA_BOOTSTRAP" < "$WORK/m.in" > "$WORK/m.java"
    "${RDKAFKA[@]}" produce --bootstrap "$FLAME_KAFKA_BOOTSTRAP" --partitioner murmur2_random \
        < "$WORK/m.in" > "$WORK/m.rd"
    jl parts "$WORK/m.java" | cut -d' ' -f1 | "${JAVA[@]}" partition --partitions 3 > "$WORK/m.computed"
    diff <(jl parts "$WORK/m.java" | cut -d' ' -f2) "$WORK/m.computed"
    diff <(jl parts "$WORK/m.rd" | cut -d' ' -f2) "$WORK/m.computed"
}

t_sasl() {
    local t=selftest-sasl-$RUN
    jl gen "$t" 5 sasl > "$WORK/sasl.in"
    "${RDKAFKA[@]}" produce --bootstrap "$FLAME_KAFKA_SASL_BOOTSTRAP" "${SASL[@]}" \
        --sasl-mechanism SCRAM-SHA-512 < "$WORK/sasl.in" > /dev/null
    "${JAVA[@]}" produce --bootstrap "$FLAME_KAFKA_SASL_BOOTSTRAP" "${SASL[@]}" \
        --sasl-mechanism SCRAM-SHA-256 < "$WORK/sasl.in" > /dev/null
    "${RDKAFKA[@]}" consume --bootstrap "$FLAME_KAFKA_SASL_BOOTSTRAP" "${SASL[@]}" \
        --sasl-mechanism PLAIN --topic "$t" --count 10 > "$WORK/sasl.got"
    diff <(cat "$WORK/sasl.in" "$WORK/sasl.in" | jl digest /dev/stdin) <(jl digest "$WORK/sasl.got")
}

t_sasl_wrong_password() {
    local mech
    jl gen "selftest-sasl-$RUN" 1 nope > "$WORK/nope.in"
    for mech in SCRAM-SHA-512 PLAIN; do
        expect_exit 5 "${RDKAFKA[@]}" produce --bootstrap "$FLAME_KAFKA_SASL_BOOTSTRAP" \
            --security-protocol SASL_PLAINTEXT --sasl-mechanism "$mech" --sasl-username "$FLAME_KAFKA_SASL_USER" \
            --sasl-password wrong-password --timeout-ms 15000 < "$WORK/nope.in"
    done
}

t_ssl() {
    local t=selftest-ssl-$RUN
    local tls=(--bootstrap "$FLAME_KAFKA_SSL_BOOTSTRAP" --security-protocol SSL --ssl-ca "$FLAME_KAFKA_CA")
    jl gen "$t" 5 ssl > "$WORK/ssl.in"
    "${RDKAFKA[@]}" produce "${tls[@]}" < "$WORK/ssl.in" > /dev/null
    "${RDKAFKA[@]}" produce "${tls[@]}" --ssl-cert "$FLAME_KAFKA_CLIENT_CERT" \
        --ssl-key "$FLAME_KAFKA_CLIENT_KEY" < "$WORK/ssl.in" > /dev/null
    "${JAVA[@]}" consume "${tls[@]}" --topic "$t" --count 10 > "$WORK/ssl.got"
    diff <(cat "$WORK/ssl.in" "$WORK/ssl.in" | jl digest /dev/stdin) <(jl digest "$WORK/ssl.got")
    "${RDKAFKA[@]}" consume --bootstrap "$FLAME_KAFKA_SASL_SSL_BOOTSTRAP" --security-protocol SASL_SSL \
        --ssl-ca "$FLAME_KAFKA_CA" --sasl-mechanism SCRAM-SHA-256 --sasl-username "$FLAME_KAFKA_SASL_USER" \
        --sasl-password "$FLAME_KAFKA_SASL_PASSWORD" --topic "$t" --count 10 > /dev/null
}

t_ssl_wrong_ca() {
    jl gen "selftest-ssl-$RUN" 1 nope > "$WORK/nope.in"
    expect_exit 5 "${RDKAFKA[@]}" produce --bootstrap "$FLAME_KAFKA_SSL_BOOTSTRAP" --security-protocol SSL \
        --ssl-ca "$FLAME_KAFKA_OTHER_CA" --timeout-ms 15000 < "$WORK/nope.in"
}

t_acl_denies_alice() {
    local t=selftest-acl-$RUN
    "$KAFKA" tool org.apache.kafka.tools.AclCommand --bootstrap-server "$FLAME_KAFKA_BOOTSTRAP" \
        --add --deny-principal "User:$FLAME_KAFKA_SASL_USER" --operation Write --topic "$t"
    jl gen "$t" 1 acl > "$WORK/acl.in"
    expect_exit 5 "${RDKAFKA[@]}" produce --bootstrap "$FLAME_KAFKA_SASL_BOOTSTRAP" "${SASL[@]}" \
        --sasl-mechanism PLAIN --timeout-ms 15000 < "$WORK/acl.in"
    "${RDKAFKA[@]}" produce --bootstrap "$FLAME_KAFKA_BOOTSTRAP" < "$WORK/acl.in"   # anonymous: super user
}

t_transactions() {
    local t=selftest-txn-$RUN
    "${JAVA[@]}" txn-abort --bootstrap "$FLAME_KAFKA_BOOTSTRAP" --topic "$t" --count 5 --partition 0 > /dev/null
    "${RDKAFKA[@]}" consume --bootstrap "$FLAME_KAFKA_BOOTSTRAP" --topic "$t" --count 5 \
        --isolation read_committed > "$WORK/txn.committed"
    diff <(jl values "$WORK/txn.committed") <(for i in 0 1 2 3 4; do echo "committed-$i"; done)
    # Only 5 committed messages exist: a sixth must not arrive.
    expect_exit 3 "${RDKAFKA[@]}" consume --bootstrap "$FLAME_KAFKA_BOOTSTRAP" --topic "$t" --count 6 \
        --isolation read_committed --timeout-ms 3000 > /dev/null
    "${JAVA[@]}" consume --bootstrap "$FLAME_KAFKA_BOOTSTRAP" --topic "$t" --count 10 \
        --isolation read_uncommitted > "$WORK/txn.all"
    [[ $(jl values "$WORK/txn.all" | grep -c '^aborted-') == 5 ]]
}

# ------------------------------------------------------------------ cluster

t_cluster_metadata() {
    "${JAVA[@]}" metadata --bootstrap "$FLAME_KAFKA_CLUSTER_BOOTSTRAP" > "$WORK/md.json"
    python3 -c 'import json,sys; ids=[n["id"] for n in json.load(open(sys.argv[1]))["nodes"]]; print(ids); sys.exit(ids != [1,2,3])' \
        "$WORK/md.json"
}

t_cluster_replication() {
    local t=selftest-rf3-$RUN
    jl gen "$t" 10 rf3 > "$WORK/rf3.in"
    "${RDKAFKA[@]}" produce --bootstrap "$FLAME_KAFKA_CLUSTER_BOOTSTRAP" --acks all < "$WORK/rf3.in" > /dev/null
    "${JAVA[@]}" consume --bootstrap "$FLAME_KAFKA_CLUSTER_BOOTSTRAP" --topic "$t" --count 10 > "$WORK/rf3.got"
    same digest "$WORK/rf3.in" "$WORK/rf3.got"
}

t_cluster_faults() {
    local t=selftest-fault-$RUN
    "$KAFKA" kill-node 3
    "${JAVA[@]}" metadata --bootstrap "${NODE_ADDR[0]}" --wait-count 2 --timeout-ms 30000 > /dev/null
    jl gen "$t" 10 fault > "$WORK/fault.in"
    # min.insync.replicas=2: acks=all still succeeds with two of three nodes.
    "${JAVA[@]}" produce --bootstrap "${NODE_ADDR[0]},${NODE_ADDR[1]}" --acks all < "$WORK/fault.in" > /dev/null
    "$KAFKA" restart-node 3
    "${JAVA[@]}" metadata --bootstrap "${NODE_ADDR[2]}" --wait-ids 1,2,3 --timeout-ms 30000 > /dev/null
    "$KAFKA" pause-node 2
    [[ $("$KAFKA" status) == *"node 2: paused"* ]]
    "$KAFKA" resume-node 2
    [[ $("$KAFKA" status) == *"node 2: running"* ]]
    "${RDKAFKA[@]}" consume --bootstrap "$FLAME_KAFKA_CLUSTER_BOOTSTRAP" --topic "$t" --count 10 > "$WORK/fault.got"
    same digest "$WORK/fault.in" "$WORK/fault.got"
}

t_stop_all() {
    "$KAFKA" stop all
    [[ -z $("$KAFKA" status | grep -v ': stopped$' || true) ]]
}

main() {
    # The final stop would end brokers that someone else started from this state dir.
    local status
    status=$("$KAFKA" status)
    if grep -qv ': stopped$' <<< "$status"; then
        echo "selftest: brokers of this harness are already running (tests using them?):" >&2
        echo "$status" >&2
        echo "stop them first, or use your own FLAME_KAFKA_HARNESS_DIR and FLAME_KAFKA_PORT_OFFSET" >&2
        exit 1
    fi
    trap cleanup EXIT
    "$KAFKA" install
    "$KAFKA" start single
    check env-keeps-external t_env_keeps_external
    check java-to-rdkafka t_java_to_rdkafka
    check rdkafka-to-java t_rdkafka_to_java
    check key-partitioner t_key_partitioner
    check sasl-scram-plain t_sasl
    check sasl-wrong-password t_sasl_wrong_password
    check ssl-and-sasl-ssl t_ssl
    check ssl-wrong-ca t_ssl_wrong_ca
    check acl-denies-alice t_acl_denies_alice
    check transactions-read-committed t_transactions
    "$KAFKA" start cluster
    check cluster-metadata t_cluster_metadata
    check cluster-replication t_cluster_replication
    check cluster-faults t_cluster_faults
    if ((!KEEP)); then check stop-all t_stop_all; fi
    echo "selftest: $PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

main
