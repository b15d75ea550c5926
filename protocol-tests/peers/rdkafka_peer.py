#!/usr/bin/env python3
"""rdkafka_peer.py: librdkafka (via confluent-kafka) as a third-party peer for flame-kafka's
protocol tests. Same modes, options and JSON-lines format as peers/java/Peer.java:

  {"topic":str,"partition":int|null,"offset":int|null,"key":b64|null,
   "value":b64|null,"headers":[[name,b64|null],...],"timestamp":int|null}

  produce --bootstrap B [--acks all|1|0] [--compression none|gzip|snappy|lz4|zstd]
          [--linger-ms N] [--idempotence true|false] [--partitioner P] [--timeout-ms M]
          stdin: messages; stdout: the same messages with partition/offset/timestamp
  consume --bootstrap B --topic T --count N [--group G] [--timeout-ms M]
          [--isolation read_committed|read_uncommitted] [--from-beginning]
          [--idle-exit-ms I] [--report-assignment]

Client options: --security-protocol, --sasl-mechanism, --sasl-username, --sasl-password,
--ssl-ca, --ssl-cert, --ssl-key, --property k=v (librdkafka property, repeatable).
consume without --group assigns every partition from the beginning; with --group it
subscribes (earliest with --from-beginning, else latest) and commits what it printed.
consume --idle-exit-ms I: --count becomes optional (a cap); the consumer runs until no
  message has arrived for I ms, counted from its first assignment (so joining the group is
  not counted), then exits 0 (3 if --timeout-ms, default 30000, ends it first). With --group
  it uses enable.auto.commit=true (offsets stored as messages are printed) instead of
  committing what it printed: offsets are committed periodically, on revocation and on
  close, only for partitions it owns.
consume --report-assignment: whenever the partitions of T it owns change (and on the first
  assignment, even if empty), prints to stdout an assignment line, in the message format so
  that Peer::run parses it; it is the only kind of line whose "offset" is null:
    {"topic":T,"partition":null,"offset":null,"key":null,"value":null,
     "headers":[["flame-peer-assignment",b64("0,2,4")]],"timestamp":<wall-clock ms>,
     "assignment":[0,2,4]}
  (the header value is the owned partitions, comma-separated ASCII, "" for none), and a
  readable line to stderr. Works with eager and cooperative (cooperative-sticky) groups.
Unlike librdkafka's defaults, consume reads uncommitted messages unless --isolation says
otherwise, as the Java client does; produce keeps librdkafka's partitioner (consistent_random)
unless --partitioner says otherwise. Exit codes: 0 ok, 1 error, 2 some message failed,
3 timeout, 5 authentication/TLS failure, 64 usage.
"""

import argparse
import base64
import functools
import json
import sys
import time
import uuid

from confluent_kafka import (OFFSET_BEGINNING, TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError,
                             Producer, TopicPartition)

# Errors after which retrying cannot help: wrong credentials, untrusted certificate, ACLs.
SECURITY_CODES = {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED,
                  KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}


class Fatal(Exception):
    """Ends the run with an exit code (see the module docstring)."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"rdkafka_peer: {message}", file=sys.stderr)
        sys.exit(64)


def parse_args(argv):
    p = Parser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["produce", "consume"])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--acks")
    p.add_argument("--compression")
    p.add_argument("--linger-ms", type=int, default=5)
    p.add_argument("--idempotence", choices=["true", "false"])
    p.add_argument("--partitioner")
    p.add_argument("--timeout-ms", type=int)
    p.add_argument("--topic")
    p.add_argument("--group")
    p.add_argument("--count", type=int)
    p.add_argument("--isolation", choices=["read_committed", "read_uncommitted"],
                   default="read_uncommitted")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--idle-exit-ms", type=int)
    p.add_argument("--report-assignment", action="store_true")
    p.add_argument("--security-protocol")
    p.add_argument("--sasl-mechanism")
    p.add_argument("--sasl-username")
    p.add_argument("--sasl-password")
    p.add_argument("--ssl-ca")
    p.add_argument("--ssl-cert")
    p.add_argument("--ssl-key")
    p.add_argument("--property", action="append", default=[], metavar="K=V")
    args = p.parse_args(argv)
    if args.mode == "consume" and (args.topic is None
                                   or (args.count is None and args.idle_exit_ms is None)):
        p.error("consume needs --topic and --count (optional with --idle-exit-ms)")
    if args.idle_exit_ms is not None and args.idle_exit_ms < 0:
        p.error("--idle-exit-ms wants a number >= 0")
    return args


def client_config(args, errors):
    """Bootstrap, security options and an error callback that records fatal errors."""
    def on_error(err):
        print(f"rdkafka_peer: client error: {err}", file=sys.stderr)
        if err.fatal() or err.code() in SECURITY_CODES:
            errors.append(err)

    conf = {"bootstrap.servers": args.bootstrap, "client.id": "flame-rdkafka-peer",
            "error_cb": on_error}
    optional = {"security.protocol": args.security_protocol, "sasl.mechanism": args.sasl_mechanism,
                "sasl.username": args.sasl_username, "sasl.password": args.sasl_password,
                "ssl.ca.location": args.ssl_ca, "ssl.certificate.location": args.ssl_cert,
                "ssl.key.location": args.ssl_key}
    conf.update({k: v for k, v in optional.items() if v is not None})
    return conf


def with_overrides(args, conf):
    """`--property k=v` overrides win over everything the mode set."""
    for kv in args.property:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            print(f"rdkafka_peer: --property wants key=value, got {kv!r}", file=sys.stderr)
            sys.exit(64)
        conf[key] = value
    return conf


def b64decode(s):
    return None if s is None else base64.b64decode(s)


def b64encode(b):
    return None if b is None else base64.b64encode(b).decode("ascii")


def record_json(topic, partition, offset, key, value, headers, timestamp):
    return json.dumps({
        "topic": topic,
        "partition": partition,
        "offset": offset if offset is not None and offset >= 0 else None,
        "key": b64encode(key),
        "value": b64encode(value),
        "headers": [[name, b64encode(v)] for name, v in (headers or [])],
        "timestamp": timestamp,
    }, separators=(",", ":"))


def msg_timestamp(msg):
    kind, ts = msg.timestamp()
    return None if kind == TIMESTAMP_NOT_AVAILABLE else ts


def check_fatal(errors):
    if errors:
        raise Fatal(str(errors[0]), 5 if errors[0].code() in SECURITY_CODES else 1)


# ------------------------------------------------------------------------ produce

def produce(args):
    errors = []
    timeout_ms = args.timeout_ms or 60000
    conf = client_config(args, errors)
    conf.update({"linger.ms": args.linger_ms, "message.timeout.ms": timeout_ms})
    optional = {"acks": args.acks, "compression.type": args.compression,
                "enable.idempotence": args.idempotence, "partitioner": args.partitioner}
    conf.update({k: v for k, v in optional.items() if v is not None})
    producer = Producer(with_overrides(args, conf))

    results = {}   # index -> (error, delivered message)
    headers = []   # input headers by index: delivery reports do not carry them

    def on_delivery(index, err, msg):
        results[index] = (err, msg)

    count = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        m = json.loads(line)
        headers.append([(name, b64decode(v)) for name, v in m.get("headers") or []])
        kwargs = {"topic": m["topic"], "key": b64decode(m.get("key")),
                  "value": b64decode(m.get("value")), "headers": headers[-1],
                  "on_delivery": functools.partial(on_delivery, count)}
        if m.get("partition") is not None:
            kwargs["partition"] = m["partition"]
        if m.get("timestamp") is not None:
            kwargs["timestamp"] = m["timestamp"]
        while True:
            check_fatal(errors)
            try:
                producer.produce(**kwargs)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                producer.poll(0.1)
        producer.poll(0)
        count += 1

    deadline = time.monotonic() + timeout_ms / 1000 + 5
    while producer.flush(0.2) > 0:
        check_fatal(errors)
        if time.monotonic() > deadline:
            raise Fatal("flush timed out", 3)
    check_fatal(errors)

    rc = 0
    for i in range(count):
        err, msg = results.get(i, ("no delivery report", None))
        if err is not None:
            security = isinstance(err, KafkaError) and err.code() in SECURITY_CODES
            rc = 5 if security else max(rc, 2)
            print(f"rdkafka_peer: message {i} failed: {err}", file=sys.stderr)
            continue
        print(record_json(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),
                          headers[i], msg_timestamp(msg)))
    sys.stdout.flush()
    return rc


# ------------------------------------------------------------------------ consume

def wait_for_partitions(consumer, topic, deadline, errors):
    while True:
        check_fatal(errors)
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fatal(f"topic {topic} has no partitions (does it exist?)", 3)
        try:
            md = consumer.list_topics(topic, timeout=min(left, 5))
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions:
                return sorted(t.partitions)
        except Exception as e:  # KafkaException on timeouts; retried until the deadline
            print(f"rdkafka_peer: metadata: {e}", file=sys.stderr)
        time.sleep(0.2)


class Ownership:
    """The partitions of one topic a consumer owns, from its rebalance callbacks (eager ones
    revoke everything before assigning; cooperative ones add and remove increments)."""

    def __init__(self, topic, report):
        self.topic = topic
        self.report = report
        self.owned = set()
        self.first_assigned = None  # time.monotonic() of the first assignment

    def on_assign(self, _consumer, partitions):
        first = self.first_assigned is None
        if first:
            self.first_assigned = time.monotonic()
        before = set(self.owned)
        self.owned.update(tp.partition for tp in partitions if tp.topic == self.topic)
        if first or self.owned != before:
            self.print()

    def on_revoke(self, _consumer, partitions):
        before = set(self.owned)
        self.owned.difference_update(tp.partition for tp in partitions if tp.topic == self.topic)
        if self.owned != before:
            self.print()

    def print(self):
        """The assignment line (see the module docstring) on stdout, a readable one on stderr."""
        if not self.report:
            return
        owned = sorted(self.owned)
        listed = ",".join(str(p) for p in owned)
        print(json.dumps({
            "topic": self.topic, "partition": None, "offset": None, "key": None, "value": None,
            "headers": [["flame-peer-assignment", b64encode(listed.encode("ascii"))]],
            "timestamp": int(time.time() * 1000), "assignment": owned,
        }, separators=(",", ":")), flush=True)
        print(f"rdkafka_peer: assignment of {self.topic}: [{listed}]", file=sys.stderr, flush=True)


def consume(args):
    if args.count == 0:
        return 0
    idle_exit = args.idle_exit_ms is not None
    count = args.count if args.count is not None else float("inf")
    # With --idle-exit-ms the group commits by itself (periodically, on revocation and on
    # close), so that a partition that moves to another member is never committed here.
    auto_commit = idle_exit and args.group is not None
    errors = []
    deadline = time.monotonic() + (args.timeout_ms or 30000) / 1000
    conf = client_config(args, errors)
    conf.update({
        # librdkafka wants a group.id even for assign(); without --group it is never joined.
        "group.id": args.group or f"flame-rdkafka-peer-{uuid.uuid4()}",
        "enable.auto.commit": auto_commit,
        "isolation.level": args.isolation,
        "auto.offset.reset": "earliest" if args.group is None or args.from_beginning else "latest",
    })
    consumer = Consumer(with_overrides(args, conf))
    ownership = Ownership(args.topic, args.report_assignment)
    try:
        if args.group is not None:
            consumer.subscribe([args.topic], on_assign=ownership.on_assign,
                               on_revoke=ownership.on_revoke, on_lost=ownership.on_revoke)
        else:
            parts = wait_for_partitions(consumer, args.topic, deadline, errors)
            assigned = [TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in parts]
            consumer.assign(assigned)
            ownership.on_assign(consumer, assigned)

        consumed = {}
        got = 0
        last_message = None
        idle = False
        while got < count and time.monotonic() < deadline:
            check_fatal(errors)
            if idle_exit and ownership.first_assigned is not None:
                since = last_message if last_message is not None else ownership.first_assigned
                if time.monotonic() - since >= args.idle_exit_ms / 1000:
                    idle = True
                    break
            msg = consumer.poll(max(0.0, min(0.2 if idle_exit else 0.5,
                                             deadline - time.monotonic())))
            if msg is None:
                continue
            if msg.error() is not None:
                err = msg.error()
                if err.fatal() or err.code() in SECURITY_CODES:
                    raise Fatal(str(err), 5 if err.code() in SECURITY_CODES else 1)
                if err.code() not in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                    print(f"rdkafka_peer: consume error: {err}", file=sys.stderr)
                continue
            print(record_json(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),
                              msg.headers(), msg_timestamp(msg)), flush=True)
            consumed[(msg.topic(), msg.partition())] = msg.offset() + 1
            last_message = time.monotonic()
            got += 1

        # Commit exactly what was printed, so a second run with the same group continues there.
        if not auto_commit and args.group is not None and consumed:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in consumed.items()],
                            asynchronous=False)
        if idle or got >= count:
            return 0
        if idle_exit:
            never = " (never assigned partitions)" if ownership.first_assigned is None else ""
            print(f"rdkafka_peer: consume timed out after {got} messages without an idle window "
                  f"of {args.idle_exit_ms} ms{never}", file=sys.stderr)
        else:
            print(f"rdkafka_peer: consume timed out after {got} of {args.count} messages",
                  file=sys.stderr)
        return 3
    finally:
        consumer.close()


def main(argv):
    args = parse_args(argv)
    try:
        return produce(args) if args.mode == "produce" else consume(args)
    except Fatal as e:
        print(f"rdkafka_peer: {args.mode} failed: {e}", file=sys.stderr)
        return e.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
