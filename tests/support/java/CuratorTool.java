/*
 * A small CLI over Apache Curator 5.4's recipes, driven by zkstate's Rust interop tests.
 *
 * Usage: java -cp CLASSES:JARS CuratorTool SUBCOMMAND HOSTS ARGS...
 *
 * Every subcommand prints its result as one JSON line on stdout and exits 0; on error it prints
 * a message on stderr and exits 1 (2 for bad usage). "Hold" subcommands (discovery-register,
 * latch-run, mutex-hold) print a line `READY {json}` once their node exists, then hold it until
 * stdin is closed or a line `release` arrives, then clean up and exit 0.
 *
 *   discovery-query HOSTS BASEPATH NAME         ServiceDiscovery.queryForInstances(NAME), payload
 *                                               class java.util.Map: [{name,id,address,port,sslPort,
 *                                               payload,payloadClass,registrationTimeUTC,
 *                                               serviceType,uriSpec,enabled}, ...]
 *   discovery-register HOSTS BASEPATH NAME ID ADDRESS PORT [--static]
 *                                               registers DYNAMIC (or STATIC) with payload {"v":"1"}
 *                                               READY {"path","data"}: data = the znode's exact text
 *   latch-run HOSTS PATH ID                     LeaderLatch participant  READY {"node"}
 *   latch-participants HOSTS PATH               [{id,isLeader}, ...] in sequence order
 *   latch-leader HOSTS PATH                     {id,isLeader} | null
 *   mutex-hold HOSTS PATH ID                    InterProcessMutex, lock node data = ID  READY {"node"}
 *   mutex-participants HOSTS PATH               [{node,id}, ...] in sequence order
 *   queue-put HOSTS PATH ITEM... [--multi]      DistributedQueue.put each ITEM (String, UTF-8),
 *                                               or one putMulti of all ITEMs   {"put": N}
 *   queue-take HOSTS PATH N TIMEOUT_MS          consume items until N arrived or timeout  [item, ...]
 *   sharedcount-get HOSTS PATH                  SharedCount value | null if the node is missing
 *   sharedcount-set HOSTS PATH VALUE            SharedCount.setCount   VALUE
 *   atomiclong-get HOSTS PATH                   DistributedAtomicLong.get().postValue()
 *   atomiclong-set HOSTS PATH VALUE             DistributedAtomicLong.forceSet   VALUE
 *
 *   --warmup                                    load the classes of every subcommand without a
 *                                               server, for a class-data-sharing archive
 *
 * The session timeout is 10 s, or ZKTOOL_SESSION_MS milliseconds.
 */

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.MultiItem;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.utils.ZKPaths;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceType;
import org.apache.curator.x.discovery.UriSpec;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;
import org.apache.zookeeper.KeeperException;

public final class CuratorTool {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static final class UsageError extends Exception {
        private static final long serialVersionUID = 1L;

        UsageError(String message) {
            super(message);
        }
    }

    private static final QueueSerializer<String> STRINGS = new QueueSerializer<String>() {
        @Override
        public byte[] serialize(String item) {
            return item.getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public String deserialize(byte[] bytes) {
            return new String(bytes, StandardCharsets.UTF_8);
        }
    };

    public static void main(String[] argv) {
        int code;
        if (argv.length == 1 && argv[0].equals("--warmup")) {
            try {
                warmup();
                code = 0;
            } catch (Throwable e) {
                System.err.println("CuratorTool --warmup: " + e);
                code = 1;
            }
        } else if (argv.length < 2) {
            System.err.println("usage: CuratorTool SUBCOMMAND HOSTS ARGS... (see the source's header)");
            code = 2;
        } else {
            String command = argv[0];
            String hosts = argv[1];
            List<String> args = new ArrayList<>(List.of(argv).subList(2, argv.length));
            try {
                run(command, hosts, args);
                code = 0;
            } catch (UsageError e) {
                System.err.println("usage: CuratorTool " + command + " HOSTS " + e.getMessage());
                code = 2;
            } catch (Throwable e) {
                System.err.println("CuratorTool " + command + ": " + e);
                code = 1;
            }
        }
        System.out.flush();
        // Curator keeps non-daemon threads around; leave deterministically.
        System.exit(code);
    }

    private static void run(String command, String hosts, List<String> args) throws Exception {
        switch (command) {
            case "discovery-query": {
                expect(args, 2, 2, "BASEPATH NAME");
                try (CuratorFramework client = connect(hosts, null)) {
                    discoveryQuery(client, args.get(0), args.get(1));
                }
                return;
            }
            case "discovery-register": {
                boolean isStatic = args.remove("--static");
                expect(args, 5, 5, "BASEPATH NAME ID ADDRESS PORT [--static]");
                try (CuratorFramework client = connect(hosts, null)) {
                    discoveryRegister(client, args, isStatic);
                }
                return;
            }
            case "latch-run": {
                expect(args, 2, 2, "PATH ID");
                try (CuratorFramework client = connect(hosts, null)) {
                    latchRun(client, args.get(0), args.get(1));
                }
                return;
            }
            case "latch-participants": {
                expect(args, 1, 1, "PATH");
                try (CuratorFramework client = connect(hosts, null)) {
                    List<Map<String, Object>> out = new ArrayList<>();
                    for (Participant p : latchParticipants(client, args.get(0))) {
                        out.add(participant(p));
                    }
                    emit(out);
                }
                return;
            }
            case "latch-leader": {
                expect(args, 1, 1, "PATH");
                try (CuratorFramework client = connect(hosts, null)) {
                    Participant leader = latchParticipants(client, args.get(0)).isEmpty()
                        ? null
                        : new LeaderLatch(client, args.get(0)).getLeader();
                    emit(leader == null ? null : participant(leader));
                }
                return;
            }
            case "mutex-hold": {
                expect(args, 2, 2, "PATH ID");
                // InterProcessMutex writes the client's default data into its lock node.
                try (CuratorFramework client = connect(hosts, args.get(1).getBytes(StandardCharsets.UTF_8))) {
                    mutexHold(client, args.get(0));
                }
                return;
            }
            case "mutex-participants": {
                expect(args, 1, 1, "PATH");
                try (CuratorFramework client = connect(hosts, null)) {
                    mutexParticipants(client, args.get(0));
                }
                return;
            }
            case "queue-put": {
                boolean multi = args.remove("--multi");
                expect(args, 2, Integer.MAX_VALUE, "PATH ITEM... [--multi]");
                try (CuratorFramework client = connect(hosts, null)) {
                    queuePut(client, args.get(0), args.subList(1, args.size()), multi);
                }
                return;
            }
            case "queue-take": {
                expect(args, 3, 3, "PATH N TIMEOUT_MS");
                try (CuratorFramework client = connect(hosts, null)) {
                    queueTake(client, args.get(0), Integer.parseInt(args.get(1)), Long.parseLong(args.get(2)));
                }
                return;
            }
            case "sharedcount-get": {
                expect(args, 1, 1, "PATH");
                try (CuratorFramework client = connect(hosts, null)) {
                    if (client.checkExists().forPath(args.get(0)) == null) {
                        emit(null);
                        return;
                    }
                    SharedCount count = new SharedCount(client, args.get(0), 0);
                    count.start();
                    try {
                        emit(count.getCount());
                    } finally {
                        count.close();
                    }
                }
                return;
            }
            case "sharedcount-set": {
                expect(args, 2, 2, "PATH VALUE");
                try (CuratorFramework client = connect(hosts, null)) {
                    int value = Integer.parseInt(args.get(1));
                    SharedCount count = new SharedCount(client, args.get(0), value);
                    count.start();
                    try {
                        count.setCount(value);
                        emit(count.getCount());
                    } finally {
                        count.close();
                    }
                }
                return;
            }
            case "atomiclong-get": {
                expect(args, 1, 1, "PATH");
                try (CuratorFramework client = connect(hosts, null)) {
                    AtomicValue<Long> value = atomicLong(client, args.get(0)).get();
                    if (!value.succeeded()) {
                        throw new IllegalStateException("DistributedAtomicLong.get did not succeed");
                    }
                    emit(value.postValue());
                }
                return;
            }
            case "atomiclong-set": {
                expect(args, 2, 2, "PATH VALUE");
                try (CuratorFramework client = connect(hosts, null)) {
                    DistributedAtomicLong atomic = atomicLong(client, args.get(0));
                    atomic.forceSet(Long.parseLong(args.get(1)));
                    emit(atomic.get().postValue());
                }
                return;
            }
            default:
                throw new UsageError("unknown subcommand " + command);
        }
    }

    /**
     * Loads what the subcommands load, without a server (the client tries a closed port), so
     * that a CDS archive dumped at exit (-XX:ArchiveClassesAtExit) makes later runs start in
     * about half the time.
     */
    @SuppressWarnings({"rawtypes", "unchecked"})
    private static void warmup() throws Exception {
        Map<String, Object> payload = new LinkedHashMap<>();
        payload.put("v", "1");
        ServiceInstance<Map> instance = ServiceInstance.<Map>builder()
            .name("n").id("i").address("a").port(1).payload(payload).build();
        JsonInstanceSerializer<Map> serializer = new JsonInstanceSerializer<>(Map.class);
        serializer.deserialize(serializer.serialize(instance));
        uriSpec(new UriSpec("{scheme}://{address}"));
        JSON.writeValueAsString(List.of(participant(new Participant("p", true))));
        CuratorFramework client = CuratorFrameworkFactory.builder()
            .connectString("127.0.0.1:1")
            .sessionTimeoutMs(1000)
            .connectionTimeoutMs(100)
            .retryPolicy(new RetryNTimes(0, 0))
            .build();
        client.start();
        client.blockUntilConnected(200, TimeUnit.MILLISECONDS);
        new LeaderLatch(client, "/w", "w");
        new InterProcessMutex(client, "/w");
        new SharedCount(client, "/w", 0);
        atomicLong(client, "/w");
        QueueBuilder.builder(client, null, STRINGS, "/w").buildQueue();
        ServiceDiscoveryBuilder.builder(Map.class).client(client).basePath("/w").build();
        client.close();
    }

    private static void expect(List<String> args, int min, int max, String usage) throws UsageError {
        if (args.size() < min || args.size() > max) {
            throw new UsageError(usage);
        }
    }

    private static CuratorFramework connect(String hosts, byte[] defaultData) throws Exception {
        int sessionMs = Integer.parseInt(System.getenv().getOrDefault("ZKTOOL_SESSION_MS", "10000"));
        CuratorFrameworkFactory.Builder builder = CuratorFrameworkFactory.builder()
            .connectString(hosts)
            .sessionTimeoutMs(sessionMs)
            .connectionTimeoutMs(15000)
            .retryPolicy(new ExponentialBackoffRetry(100, 10));
        if (defaultData != null) {
            builder.defaultData(defaultData);
        }
        CuratorFramework client = builder.build();
        client.start();
        if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) {
            client.close();
            throw new IllegalStateException("failed to connect to " + hosts + " within 30 s");
        }
        return client;
    }

    private static void emit(Object value) throws Exception {
        System.out.println(JSON.writeValueAsString(value));
        System.out.flush();
    }

    private static void ready(Map<String, Object> info) throws Exception {
        System.out.println("READY " + JSON.writeValueAsString(info));
        System.out.flush();
    }

    /** Blocks until stdin is closed or a line `release` arrives. */
    private static void hold() throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.trim().equals("release")) {
                return;
            }
        }
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    private static ServiceDiscovery<Map> discovery(CuratorFramework client, String basePath) throws Exception {
        // The builder's default serializer is JsonInstanceSerializer(Map.class), which in 5.4 is
        // the "compatible" one (no `enabled` field), as in any default Curator application.
        ServiceDiscovery<Map> discovery = ServiceDiscoveryBuilder.builder(Map.class)
            .client(client)
            .basePath(basePath)
            .watchInstances(false)
            .build();
        discovery.start();
        return discovery;
    }

    @SuppressWarnings("rawtypes")
    private static void discoveryQuery(CuratorFramework client, String basePath, String name) throws Exception {
        ServiceDiscovery<Map> discovery = discovery(client, basePath);
        try {
            List<Map<String, Object>> out = new ArrayList<>();
            for (ServiceInstance<Map> instance : discovery.queryForInstances(name)) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("name", instance.getName());
                row.put("id", instance.getId());
                row.put("address", instance.getAddress());
                row.put("port", instance.getPort());
                row.put("sslPort", instance.getSslPort());
                row.put("payload", instance.getPayload());
                row.put("payloadClass", instance.getPayload() == null ? null : instance.getPayload().getClass().getName());
                row.put("registrationTimeUTC", instance.getRegistrationTimeUTC());
                row.put("serviceType", instance.getServiceType() == null ? null : instance.getServiceType().name());
                row.put("uriSpec", uriSpec(instance.getUriSpec()));
                row.put("enabled", instance.isEnabled());
                out.add(row);
            }
            out.sort((a, b) -> String.valueOf(a.get("id")).compareTo(String.valueOf(b.get("id"))));
            emit(out);
        } finally {
            discovery.close();
        }
    }

    /** The template text of a UriSpec, e.g. `{scheme}://{address}:{port}`. */
    private static String uriSpec(UriSpec spec) {
        if (spec == null) {
            return null;
        }
        StringBuilder text = new StringBuilder();
        for (UriSpec.Part part : spec) {
            text.append(part.isVariable() ? "{" + part.getValue() + "}" : part.getValue());
        }
        return text.toString();
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    private static void discoveryRegister(CuratorFramework client, List<String> args, boolean isStatic) throws Exception {
        String basePath = args.get(0);
        String name = args.get(1);
        String id = args.get(2);
        Map<String, Object> payload = new LinkedHashMap<>();
        payload.put("v", "1");
        ServiceInstance<Map> instance = ServiceInstance.<Map>builder()
            .name(name)
            .id(id)
            .address(args.get(3))
            .port(Integer.parseInt(args.get(4)))
            .payload(payload)
            .serviceType(isStatic ? ServiceType.STATIC : ServiceType.DYNAMIC)
            .build();
        ServiceDiscovery<Map> discovery = discovery(client, basePath);
        discovery.registerService(instance);
        String path = ZKPaths.makePath(basePath, name, id);
        byte[] written = client.getData().forPath(path);
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("path", path);
        info.put("data", new String(written, StandardCharsets.UTF_8));
        ready(info);
        hold();
        if (!isStatic) {
            // Unregisters the instance. A STATIC one is meant to outlive us: leave it.
            discovery.close();
        }
    }

    private static void latchRun(CuratorFramework client, String path, String id) throws Exception {
        LeaderLatch latch = new LeaderLatch(client, path, id);
        latch.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (latch.getOurPath() == null) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("latch node not created within 30 s");
            }
            Thread.sleep(10);
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("node", ZKPaths.getNodeFromPath(latch.getOurPath()));
        ready(info);
        hold();
        latch.close();
    }

    private static Collection<Participant> latchParticipants(CuratorFramework client, String path) throws Exception {
        try {
            return new LeaderLatch(client, path).getParticipants();
        } catch (KeeperException.NoNodeException e) {
            return Collections.emptyList();
        }
    }

    private static Map<String, Object> participant(Participant p) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("id", p.getId());
        row.put("isLeader", p.isLeader());
        return row;
    }

    private static void mutexHold(CuratorFramework client, String path) throws Exception {
        InterProcessMutex mutex = new InterProcessMutex(client, path);
        mutex.acquire();
        String ours = null;
        // The lock node holding our data is ours: the session holds exactly one here.
        for (String node : mutex.getParticipantNodes()) {
            if (client.getZookeeperClient().getZooKeeper().exists(node, false).getEphemeralOwner()
                == client.getZookeeperClient().getZooKeeper().getSessionId()) {
                ours = ZKPaths.getNodeFromPath(node);
            }
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("node", ours);
        ready(info);
        hold();
        mutex.release();
    }

    private static void mutexParticipants(CuratorFramework client, String path) throws Exception {
        List<Map<String, Object>> out = new ArrayList<>();
        Collection<String> nodes;
        try {
            nodes = new InterProcessMutex(client, path).getParticipantNodes();
        } catch (KeeperException.NoNodeException e) {
            nodes = Collections.emptyList();
        }
        for (String node : nodes) {
            byte[] data;
            try {
                data = client.getData().forPath(node);
            } catch (KeeperException.NoNodeException e) {
                continue; // released meanwhile
            }
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("node", ZKPaths.getNodeFromPath(node));
            row.put("id", new String(data, StandardCharsets.UTF_8));
            out.add(row);
        }
        emit(out);
    }

    private static void queuePut(CuratorFramework client, String path, List<String> items, boolean multi) throws Exception {
        DistributedQueue<String> queue = QueueBuilder.builder(client, null, STRINGS, path)
            .putInBackground(false)
            .buildQueue();
        queue.start();
        try {
            if (multi) {
                final List<String> pending = new ArrayList<>(items);
                queue.putMulti(new MultiItem<String>() {
                    @Override
                    public String nextItem() {
                        return pending.isEmpty() ? null : pending.remove(0);
                    }
                });
            } else {
                for (String item : items) {
                    queue.put(item);
                }
            }
            if (!queue.flushPuts(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("puts not flushed within 30 s");
            }
        } finally {
            queue.close();
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("put", items.size());
        emit(out);
    }

    /**
     * Consumes items with a DistributedQueue consumer (which deletes each item node before it
     * hands over its items). After the N-th item the consumer parks its thread until close()
     * interrupts it, so no node after the N-th is taken. A node written by putMulti is consumed
     * whole, so the result can hold more than N items then.
     */
    private static void queueTake(CuratorFramework client, String path, int n, long timeoutMs) throws Exception {
        final List<String> taken = Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch enough = new CountDownLatch(n <= 0 ? 0 : 1);
        final List<Thread> threads = Collections.synchronizedList(new ArrayList<>());
        ThreadFactory factory = runnable -> {
            Thread thread = new Thread(runnable, "queue-take");
            thread.setDaemon(true);
            threads.add(thread);
            return thread;
        };
        QueueConsumer<String> consumer = new QueueConsumer<String>() {
            @Override
            public void consumeMessage(String item) {
                taken.add(item);
                if (taken.size() >= n) {
                    enough.countDown();
                    try {
                        new CountDownLatch(1).await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }

            @Override
            public void stateChanged(CuratorFramework c, ConnectionState state) {
            }
        };
        DistributedQueue<String> queue = QueueBuilder.builder(client, consumer, STRINGS, path)
            .threadFactory(factory)
            .buildQueue();
        queue.start();
        enough.await(timeoutMs, TimeUnit.MILLISECONDS);
        queue.close();
        for (Thread thread : new ArrayList<>(threads)) {
            thread.join(10000);
        }
        emit(new ArrayList<>(taken));
    }

    private static DistributedAtomicLong atomicLong(CuratorFramework client, String path) {
        return new DistributedAtomicLong(client, path, new RetryNTimes(10, 10));
    }
}
