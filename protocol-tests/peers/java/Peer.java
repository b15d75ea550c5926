// Peer.java: the Apache Kafka Java client as a third-party peer for flame-kafka's
// protocol tests. One file, compiled by `kafka.sh install` against the harness jars:
//   javac -cp 'libs/*' -d peer-classes Peer.java
//   java -cp 'peer-classes:libs/*' Peer <mode> [options]
//
// Messages are JSON lines, the same format as rdkafka_peer.py:
//   {"topic":str,"partition":int|null,"offset":int|null,"key":b64|null,
//    "value":b64|null,"headers":[[name,b64|null],...],"timestamp":int|null}
//
// Modes:
//   produce   --bootstrap B [--acks all|1|0] [--compression none|gzip|snappy|lz4|zstd]
//             [--linger-ms N] [--idempotence true|false] [--timeout-ms M]
//             stdin: messages; stdout: the same messages with partition/offset/timestamp
//   consume   --bootstrap B --topic T --count N [--group G] [--timeout-ms M]
//             [--isolation read_committed|read_uncommitted] [--from-beginning]
//             [--idle-exit-ms I] [--report-assignment]
//   partition --partitions N        stdin: one base64 key per line (empty line = empty key);
//                                   stdout: the partition the default partitioner picks
//   metadata  --bootstrap B [--wait-ids 1,2,3] [--wait-count N] [--timeout-ms M]
//   txn-abort --bootstrap B --topic T --count N [--partition P]
//             aborts N messages "aborted-i", then commits N messages "committed-i"
// consume without --group assigns every partition from the beginning; with --group it
// subscribes (earliest with --from-beginning, else latest) and commits what it printed.
// The default isolation is read_uncommitted.
// consume --idle-exit-ms I: --count becomes optional (a cap); the consumer runs until no
//   message has arrived for I ms, counted from its first assignment (so joining the group
//   is not counted), then exits 0 (3 if --timeout-ms, default 30000, ends it first). With
//   --group it uses enable.auto.commit=true instead of committing what it printed: offsets
//   are committed periodically, on revocation and on close, only for partitions it owns.
// consume --report-assignment: whenever the partitions of T it owns change (and on the first
//   assignment, even if empty), prints to stdout an assignment line, in the message format so
//   that Peer::run parses it; it is the only kind of line whose "offset" is null:
//     {"topic":T,"partition":null,"offset":null,"key":null,"value":null,
//      "headers":[["flame-peer-assignment",b64("0,2,4")]],"timestamp":<wall-clock ms>,
//      "assignment":[0,2,4]}
//   (the header value is the owned partitions, comma-separated ASCII, "" for none), and a
//   readable line to stderr.
// --property partition.assignment.strategy=... also takes the short names range, roundrobin,
// sticky and cooperative-sticky (as librdkafka and flame-kafka spell them).
// Common client options: --security-protocol P, --sasl-mechanism M, --sasl-username U,
// --sasl-password P, --ssl-ca PEM, --ssl-cert PEM, --ssl-key PEM, --property k=v (repeatable).
// Exit codes: 0 ok, 1 error, 2 some message failed, 3 timeout,
// 5 authentication/TLS/authorization failure, 64 usage.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.stream.Collectors;

public final class Peer {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final PrintStream OUT =
            new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8);

    /** Thrown for bad command lines; exits 64. */
    static final class UsageError extends RuntimeException {
        private static final long serialVersionUID = 1L;
        UsageError(String msg) { super(msg); }
    }

    public static void main(String[] argv) {
        int rc;
        try {
            if (argv.length == 0) throw new UsageError("missing mode");
            Args args = new Args(argv);
            switch (argv[0]) {
                case "produce": rc = produce(args); break;
                case "consume": rc = consume(args); break;
                case "partition": rc = partition(args); break;
                case "metadata": rc = metadata(args); break;
                case "txn-abort": rc = txnAbort(args); break;
                default: throw new UsageError("unknown mode " + argv[0]);
            }
        } catch (UsageError e) {
            System.err.println("Peer: " + e.getMessage()
                    + " (modes: produce, consume, partition, metadata, txn-abort; see Peer.java)");
            rc = 64;
        } catch (Exception e) {
            System.err.println("Peer: " + (argv.length > 0 ? argv[0] : "") + " failed: " + describe(e));
            rc = isSecurityFailure(e) ? 5 : 1;
        }
        OUT.flush();
        System.exit(rc);
    }

    // ---------------------------------------------------------------- command line

    /** `--name value` options, `--from-beginning` and `--report-assignment` flags, repeatable `--property k=v`. */
    static final class Args {
        private static final Set<String> FLAGS = Set.of("from-beginning", "report-assignment");
        final Map<String, String> opts = new HashMap<>();
        final List<String> properties = new ArrayList<>();

        Args(String[] argv) {
            for (int i = 1; i < argv.length; i++) {
                String a = argv[i];
                if (!a.startsWith("--")) throw new UsageError("unexpected argument " + a);
                String name = a.substring(2);
                if (FLAGS.contains(name)) { opts.put(name, "true"); continue; }
                if (i + 1 >= argv.length) throw new UsageError("option " + a + " needs a value");
                String value = argv[++i];
                if (name.equals("property")) properties.add(value); else opts.put(name, value);
            }
        }

        String get(String name) { return opts.get(name); }
        boolean has(String name) { return opts.containsKey(name); }
        String required(String name) {
            String v = opts.get(name);
            if (v == null) throw new UsageError("--" + name + " is required");
            return v;
        }
        long getLong(String name, long dflt) {
            String v = opts.get(name);
            try { return v == null ? dflt : Long.parseLong(v); }
            catch (NumberFormatException e) { throw new UsageError("--" + name + " wants a number, got " + v); }
        }
        Integer getInt(String name) {
            return has(name) ? (int) getLong(name, 0) : null;
        }
    }

    /** Bootstrap and security options shared by every client. */
    static Properties clientProps(Args a) throws IOException {
        Properties p = new Properties();
        p.put("bootstrap.servers", a.required("bootstrap"));
        p.put("client.id", "flame-java-peer");
        if (a.has("security-protocol")) p.put("security.protocol", a.get("security-protocol"));
        if (a.has("sasl-mechanism")) {
            String mech = a.get("sasl-mechanism");
            String module = mech.startsWith("SCRAM")
                    ? "org.apache.kafka.common.security.scram.ScramLoginModule"
                    : "org.apache.kafka.common.security.plain.PlainLoginModule";
            p.put("sasl.mechanism", mech);
            p.put("sasl.jaas.config", module + " required username=\"" + a.required("sasl-username")
                    + "\" password=\"" + a.required("sasl-password") + "\";");
        }
        if (a.has("ssl-ca")) {
            p.put("ssl.truststore.type", "PEM");
            p.put("ssl.truststore.location", a.get("ssl-ca"));
        }
        if (a.has("ssl-cert")) {
            p.put("ssl.keystore.type", "PEM");
            p.put("ssl.keystore.certificate.chain", Files.readString(Path.of(a.get("ssl-cert"))));
            p.put("ssl.keystore.key", Files.readString(Path.of(a.required("ssl-key"))));
        }
        return p;
    }

    /** Applies the `--property k=v` overrides last, so they win over everything the mode set. */
    static Properties withOverrides(Args a, Properties p) {
        for (String kv : a.properties) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new UsageError("--property wants key=value, got " + kv);
            String key = kv.substring(0, eq);
            String value = kv.substring(eq + 1);
            p.put(key, key.equals("partition.assignment.strategy") ? assignorClasses(value) : value);
        }
        return p;
    }

    /** Short assignor names (librdkafka's spelling) to the Java client's class names. */
    static String assignorClasses(String list) {
        List<String> out = new ArrayList<>();
        for (String name : list.split(",")) {
            String n = name.trim();
            switch (n) {
                case "range": out.add("org.apache.kafka.clients.consumer.RangeAssignor"); break;
                case "roundrobin": out.add("org.apache.kafka.clients.consumer.RoundRobinAssignor"); break;
                case "sticky": out.add("org.apache.kafka.clients.consumer.StickyAssignor"); break;
                case "cooperative-sticky": out.add("org.apache.kafka.clients.consumer.CooperativeStickyAssignor"); break;
                default: if (!n.isEmpty()) out.add(n);
            }
        }
        return String.join(",", out);
    }

    // ---------------------------------------------------------------- JSON lines

    static byte[] b64(JsonNode n) {
        return n == null || n.isNull() ? null : Base64.getDecoder().decode(n.asText());
    }

    static String b64(byte[] b) {
        return b == null ? null : Base64.getEncoder().encodeToString(b);
    }

    static ProducerRecord<byte[], byte[]> parseRecord(String line) throws IOException {
        JsonNode m = JSON.readTree(line);
        JsonNode topic = m.get("topic");
        if (topic == null || !topic.isTextual()) throw new IOException("message without topic: " + line);
        List<Header> headers = new ArrayList<>();
        JsonNode hs = m.get("headers");
        if (hs != null && !hs.isNull()) {
            for (JsonNode h : hs) headers.add(new RecordHeader(h.get(0).asText(), b64(h.get(1))));
        }
        JsonNode part = m.get("partition");
        JsonNode ts = m.get("timestamp");
        return new ProducerRecord<>(topic.asText(),
                part == null || part.isNull() ? null : part.asInt(),
                ts == null || ts.isNull() ? null : ts.asLong(),
                b64(m.get("key")), b64(m.get("value")), headers);
    }

    static void printRecord(String topic, Integer partition, Long offset, byte[] key, byte[] value,
                            Iterable<Header> headers, Long timestamp) {
        ObjectNode o = JSON.createObjectNode();
        o.put("topic", topic);
        o.put("partition", partition);
        o.put("offset", offset);
        o.put("key", b64(key));
        o.put("value", b64(value));
        ArrayNode hs = o.putArray("headers");
        for (Header h : headers) hs.addArray().add(h.key()).add(b64(h.value()));
        o.put("timestamp", timestamp);
        OUT.println(o.toString());
    }

    static void printSent(ProducerRecord<byte[], byte[]> r, RecordMetadata md) {
        printRecord(r.topic(), md.partition(), md.hasOffset() ? md.offset() : null, r.key(), r.value(),
                r.headers(), md.hasTimestamp() ? md.timestamp() : null);
    }

    /** Wrong credentials, untrusted certificate or a missing ACL: retrying cannot help. */
    static boolean isSecurityFailure(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof org.apache.kafka.common.errors.AuthenticationException
                    || c instanceof org.apache.kafka.common.errors.AuthorizationException) return true;
        }
        return false;
    }

    static String describe(Throwable e) {
        Throwable c = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        return c.getClass().getSimpleName() + ": " + c.getMessage();
    }

    // ---------------------------------------------------------------- produce

    static KafkaProducer<byte[], byte[]> producer(Args a, Properties extra) throws IOException {
        Properties p = clientProps(a);
        long linger = a.getLong("linger-ms", 5);
        long timeout = a.getLong("timeout-ms", 60_000);
        long request = Math.max(1, Math.min(30_000, timeout - linger));
        p.put("linger.ms", Long.toString(linger));
        p.put("request.timeout.ms", Long.toString(request));
        p.put("delivery.timeout.ms", Long.toString(Math.max(timeout, linger + request)));
        p.put("max.block.ms", Long.toString(timeout));
        if (a.has("acks")) p.put("acks", a.get("acks"));
        if (a.has("compression")) p.put("compression.type", a.get("compression"));
        if (a.has("idempotence")) p.put("enable.idempotence", a.get("idempotence"));
        p.putAll(extra);
        return new KafkaProducer<>(withOverrides(a, p), new ByteArraySerializer(), new ByteArraySerializer());
    }

    /** Sends one record; a synchronous send error becomes a failed future. */
    static Future<RecordMetadata> send(KafkaProducer<byte[], byte[]> producer, ProducerRecord<byte[], byte[]> r) {
        try {
            return producer.send(r);
        } catch (RuntimeException e) {
            java.util.concurrent.CompletableFuture<RecordMetadata> f = new java.util.concurrent.CompletableFuture<>();
            f.completeExceptionally(e);
            return f;
        }
    }

    /** Waits for every send, prints results in input order; returns the exit code. */
    static int report(List<ProducerRecord<byte[], byte[]>> records, List<Future<RecordMetadata>> futures)
            throws InterruptedException {
        int rc = 0;
        for (int i = 0; i < records.size(); i++) {
            try {
                printSent(records.get(i), futures.get(i).get());
            } catch (ExecutionException e) {
                rc = isSecurityFailure(e) ? 5 : Math.max(rc, 2);
                System.err.println("Peer: message " + i + " failed: " + describe(e));
            }
        }
        OUT.flush();
        return rc;
    }

    static int produce(Args a) throws Exception {
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = producer(a, new Properties());
             BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (line.isBlank()) continue;
                ProducerRecord<byte[], byte[]> r = parseRecord(line);
                records.add(r);
                futures.add(send(producer, r));
            }
            producer.flush();
            return report(records, futures);
        }
    }

    // ---------------------------------------------------------------- consume

    /** The partitions of one topic a consumer owns, as its rebalance callbacks report them. */
    static final class Ownership implements ConsumerRebalanceListener {
        final String topic;
        final boolean report;
        final TreeSet<Integer> owned = new TreeSet<>();
        /** System.nanoTime() of the first assignment, or null before it. */
        Long firstAssigned;

        Ownership(String topic, boolean report) {
            this.topic = topic;
            this.report = report;
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            boolean first = firstAssigned == null;
            if (first) firstAssigned = System.nanoTime();
            boolean changed = false;
            for (TopicPartition tp : partitions) {
                if (tp.topic().equals(topic)) changed |= owned.add(tp.partition());
            }
            if (changed || first) print();
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            boolean changed = false;
            for (TopicPartition tp : partitions) {
                if (tp.topic().equals(topic)) changed |= owned.remove(tp.partition());
            }
            if (changed) print();
        }

        /** The assignment line (see the header) on stdout, a readable one on stderr. */
        void print() {
            if (!report) return;
            String list = owned.stream().map(String::valueOf).collect(Collectors.joining(","));
            ObjectNode o = JSON.createObjectNode();
            o.put("topic", topic);
            o.putNull("partition");
            o.putNull("offset");
            o.putNull("key");
            o.putNull("value");
            o.putArray("headers").addArray().add("flame-peer-assignment")
                    .add(b64(list.getBytes(StandardCharsets.US_ASCII)));
            o.put("timestamp", System.currentTimeMillis());
            ArrayNode parts = o.putArray("assignment");
            for (int part : owned) parts.add(part);
            OUT.println(o.toString());
            OUT.flush();
            System.err.println("Peer: assignment of " + topic + ": [" + list + "]");
        }
    }

    static int consume(Args a) throws Exception {
        String topic = a.required("topic");
        long idleMs = a.getLong("idle-exit-ms", -1);
        boolean idleExit = a.has("idle-exit-ms");
        if (idleExit && idleMs < 0) throw new UsageError("--idle-exit-ms wants a number >= 0");
        long count = a.getLong("count", idleExit ? Long.MAX_VALUE : -1);
        if (count < 0) throw new UsageError("--count is required (optional with --idle-exit-ms)");
        if (count == 0) return 0;
        long deadline = System.currentTimeMillis() + a.getLong("timeout-ms", 30_000);
        String group = a.get("group");
        // With --idle-exit-ms the group commits by itself (periodically, on revocation and on
        // close), so that a partition that moves to another member is never committed here.
        boolean autoCommit = idleExit && group != null;

        Properties p = clientProps(a);
        p.put("enable.auto.commit", Boolean.toString(autoCommit));
        p.put("isolation.level", a.has("isolation") ? a.get("isolation") : "read_uncommitted");
        p.put("auto.offset.reset", group == null || a.has("from-beginning") ? "earliest" : "latest");
        if (group != null) p.put("group.id", group);

        Ownership ownership = new Ownership(topic, a.has("report-assignment"));
        try (KafkaConsumer<byte[], byte[]> consumer =
                     new KafkaConsumer<>(withOverrides(a, p), new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            if (group != null) {
                consumer.subscribe(List.of(topic), ownership);
            } else {
                List<TopicPartition> parts = waitForPartitions(consumer, topic, deadline);
                consumer.assign(parts);
                consumer.seekToBeginning(parts);
                ownership.onPartitionsAssigned(parts);
            }
            Map<TopicPartition, OffsetAndMetadata> consumed = new HashMap<>();
            long got = 0;
            long lastMessage = 0;
            boolean idle = false;
            while (got < count && System.currentTimeMillis() < deadline) {
                if (idleExit && ownership.firstAssigned != null) {
                    long since = got > 0 ? lastMessage : ownership.firstAssigned;
                    if ((System.nanoTime() - since) / 1_000_000 >= idleMs) {
                        idle = true;
                        break;
                    }
                }
                long wait = Math.max(1, Math.min(idleExit ? 200 : 500, deadline - System.currentTimeMillis()));
                // Where to resume each partition whose records this poll returned beyond --count.
                Map<TopicPartition, Long> rewind = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(wait))) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    if (got == count) {
                        rewind.putIfAbsent(tp, r.offset());
                        continue;
                    }
                    printRecord(r.topic(), r.partition(), r.offset(), r.key(), r.value(), r.headers(),
                            r.timestamp() >= 0 ? r.timestamp() : null);
                    consumed.put(tp, new OffsetAndMetadata(r.offset() + 1));
                    lastMessage = System.nanoTime();
                    got++;
                }
                // Auto-commit commits positions: never past a record that was not printed.
                if (autoCommit) rewind.forEach(consumer::seek);
                OUT.flush();
            }
            // Commit exactly what was printed, so a second run with the same group continues there.
            if (!autoCommit && group != null && !consumed.isEmpty()) consumer.commitSync(consumed);
            if (idle || got == count) return 0;
            if (idleExit) {
                System.err.println("Peer: consume timed out after " + got + " messages without an idle window of "
                        + idleMs + " ms" + (ownership.firstAssigned == null ? " (never assigned partitions)" : ""));
            } else {
                System.err.println("Peer: consume timed out after " + got + " of " + count + " messages");
            }
            return 3;
        }
    }

    static List<TopicPartition> waitForPartitions(KafkaConsumer<?, ?> consumer, String topic, long deadline)
            throws InterruptedException {
        while (true) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) throw new RuntimeException("topic " + topic + " has no partitions (does it exist?)");
            try {
                List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofMillis(left));
                if (infos != null && !infos.isEmpty()) {
                    return infos.stream().map(i -> new TopicPartition(topic, i.partition())).collect(Collectors.toList());
                }
            } catch (org.apache.kafka.common.errors.TimeoutException
                     | org.apache.kafka.common.errors.UnknownTopicOrPartitionException e) {
                // retried until the deadline
            }
            Thread.sleep(200);
        }
    }

    // ---------------------------------------------------------------- partition

    static int partition(Args a) throws IOException {
        long n = a.getLong("partitions", 0);
        if (n <= 0) throw new UsageError("--partitions N (N > 0) is required");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            byte[] key = Base64.getDecoder().decode(line.trim());
            // Exactly what the producer's default partitioning does for a keyed record.
            OUT.println(BuiltInPartitioner.partitionForKey(key, (int) n));
        }
        return 0;
    }

    // ---------------------------------------------------------------- metadata

    static int metadata(Args a) throws Exception {
        long deadline = System.currentTimeMillis() + a.getLong("timeout-ms", 10_000);
        Set<Integer> wantIds = new TreeSet<>();
        if (a.has("wait-ids")) {
            for (String s : a.get("wait-ids").split(",")) wantIds.add(Integer.parseInt(s.trim()));
        }
        Integer wantCount = a.getInt("wait-count");
        Properties p = clientProps(a);
        p.putIfAbsent("request.timeout.ms", "5000");
        p.putIfAbsent("default.api.timeout.ms", "5000");
        withOverrides(a, p);
        String last = "no attempt";
        try (Admin admin = Admin.create(p)) {
            while (System.currentTimeMillis() < deadline) {
                try {
                    DescribeClusterResult cluster = admin.describeCluster(new DescribeClusterOptions().timeoutMs(5000));
                    Collection<Node> nodes = cluster.nodes().get();
                    Set<Integer> ids = nodes.stream().map(Node::id).collect(Collectors.toCollection(TreeSet::new));
                    if (ids.containsAll(wantIds) && (wantCount == null || ids.size() == wantCount)) {
                        printMetadata(admin, cluster, nodes);
                        return 0;
                    }
                    last = "nodes " + ids;
                } catch (ExecutionException e) {
                    last = describe(e);
                }
                Thread.sleep(500);
            }
        }
        System.err.println("Peer: metadata: cluster not as wanted (ids " + wantIds
                + (wantCount == null ? "" : ", count " + wantCount) + ") before timeout; last: " + last);
        return 3;
    }

    static void printMetadata(Admin admin, DescribeClusterResult cluster, Collection<Node> nodes) throws Exception {
        ObjectNode o = JSON.createObjectNode();
        o.put("cluster_id", cluster.clusterId().get());
        Node controller = cluster.controller().get();
        o.put("controller", controller == null ? null : controller.id());
        ArrayNode ns = o.putArray("nodes");
        nodes.stream().sorted((x, y) -> Integer.compare(x.id(), y.id())).forEach(n ->
                ns.addObject().put("id", n.id()).put("host", n.host()).put("port", n.port()).put("rack", n.rack()));
        Set<String> names = admin.listTopics(new ListTopicsOptions().listInternal(true)).names().get();
        Map<String, TopicDescription> topics = names.isEmpty() ? Map.of()
                : admin.describeTopics(names).allTopicNames().get();
        ArrayNode ts = o.putArray("topics");
        for (String name : new TreeSet<>(names)) {
            TopicDescription d = topics.get(name);
            ts.addObject().put("name", name).put("partitions", d == null ? null : d.partitions().size())
                    .put("internal", d != null && d.isInternal());
        }
        OUT.println(o.toString());
    }

    // ---------------------------------------------------------------- txn-abort

    static int txnAbort(Args a) throws Exception {
        String topic = a.required("topic");
        long count = a.getLong("count", -1);
        if (count < 0) throw new UsageError("--count is required");
        Integer partition = a.getInt("partition");
        Properties txn = new Properties();
        txn.put("transactional.id", "flame-java-peer-" + UUID.randomUUID());
        txn.put("acks", "all");
        txn.put("enable.idempotence", "true");
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = producer(a, txn)) {
            producer.initTransactions();
            for (String outcome : List.of("aborted", "committed")) {
                producer.beginTransaction();
                for (long i = 0; i < count; i++) {
                    ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, partition, null,
                            (outcome + "-" + i).getBytes(StandardCharsets.UTF_8));
                    records.add(r);
                    futures.add(producer.send(r));
                }
                producer.flush();
                if (outcome.equals("aborted")) producer.abortTransaction(); else producer.commitTransaction();
            }
            return report(records, futures);
        }
    }
}
