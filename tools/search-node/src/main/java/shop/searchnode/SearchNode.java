package shop.searchnode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.config.Configurator;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single-node OpenSearch on 127.0.0.1 for tests and local use: {@code SearchNode PORT DATA_DIR}.
 *
 * <p>Security is off (loopback only); the modules the shop's index needs (HTTP and transport,
 * the common analyzers, painless) are loaded from the class path, as the OpenSearch test
 * framework's MockNode does, so no distribution has to be unpacked. SIGTERM (or SIGINT) closes
 * the node and waits for it, so the data directory is left consistent.
 */
public final class SearchNode {
    private static final List<Class<? extends Plugin>> PLUGINS =
            List.of(Netty4Plugin.class, CommonAnalysisPlugin.class, PainlessPlugin.class);

    /** Node's constructor that takes plugins from the class path is protected. */
    private static final class ClasspathNode extends Node {
        ClasspathNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    private SearchNode() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2 || !args[0].matches("\\d{1,5}")) {
            System.err.println("usage: SearchNode PORT DATA_DIR");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        Path home = Path.of(args[1]).toAbsolutePath();
        Files.createDirectories(home.resolve("config"));
        Configurator.setRootLevel(Level.WARN);

        Settings settings = Settings.builder()
                .put("cluster.name", "shop-search")
                .put("node.name", "shop-search-node")
                .put("path.home", home.toString())
                .put("path.data", home.resolve("data").toString())
                .put("path.logs", home.resolve("logs").toString())
                .put("network.host", "127.0.0.1")
                .put("http.port", port)
                .put("transport.port", 0)
                .put("discovery.type", "single-node")
                // A shared machine: one processor's worth of thread pools.
                .put("node.processors", 1)
                // Tests fill and empty small indices; a nearly full disk must not block writes.
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .build();
        Environment environment =
                InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "shop-search-node");
        Node node = new ClasspathNode(environment, PLUGINS);

        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                System.err.println("search node: close failed: " + e);
            } finally {
                closed.countDown();
            }
        }, "search-node-shutdown"));

        node.start();
        System.out.println("search node started on http://127.0.0.1:" + port);
        System.out.flush();
        closed.await();
    }
}
