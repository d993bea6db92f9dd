package dev.capsa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.CapsaException;
import dev.capsa.error.WrongStateException;
import dev.capsa.plugin.CapsaPluginManager;
import dev.capsa.plugin.CapsaSettings;
import dev.capsa.plugin.PluginCatalog;
import dev.capsa.spec.Json;
import dev.capsa.state.ContainerIds;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "events", description = "Print a container's resource statistics as JSON events, or with --journal"
        + " the lifecycle events the journal hook plugin recorded.")
final class EventsCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Option(names = "--stats", description = "print statistics once and exit")
    boolean stats;

    @Option(names = "--interval", paramLabel = "DURATION", defaultValue = "5s",
            description = "time between statistics events (Go duration: 500ms, 5s, 1m)")
    String interval;

    @Option(names = "--journal", description = "print the container's journal (one JSON line per lifecycle"
            + " phase, kept after delete) and exit")
    boolean journal;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Override
    public Integer call() throws InterruptedException {
        if (journal) {
            journal().forEach(root.out::println);
            return 0;
        }
        Duration every = GoDuration.parse(interval);
        // as runc: stats every interval, and an {"type":"oom"} event as soon as the OOM killer
        // strikes in the container (its kill count, checked every OOM_POLL between the stats)
        long ooms = stats ? -1 : root.engine().oomKills(id);
        long nextStats = System.nanoTime();
        while (true) {
            if (System.nanoTime() - nextStats >= 0) {
                JsonNode data;
                try {
                    data = root.engine().stats(id);
                } catch (WrongStateException stopped) {
                    if (stats) {
                        throw stopped;
                    }
                    return 0; // the container is gone: the stream ends, as runc's does
                }
                ObjectNode event = Json.mapper().createObjectNode();
                event.put("type", "stats");
                event.put("id", id);
                event.set("data", data);
                root.out.println(event);
                if (stats) {
                    return 0;
                }
                nextStats = System.nanoTime() + every.toNanos();
            }
            long now = root.engine().oomKills(id);
            if (ooms >= 0 && now > ooms) {
                ObjectNode event = Json.mapper().createObjectNode();
                event.put("type", "oom");
                event.put("id", id);
                root.out.println(event);
            }
            ooms = now;
            Thread.sleep(Math.max(1, Math.min(OOM_POLL.toMillis(), (nextStats - System.nanoTime()) / 1_000_000)));
        }
    }

    private static final Duration OOM_POLL = Duration.ofMillis(100);

    /**
     * The journal's lines, read by the journal plugin's own {@code JournalReader}, so that its file
     * format and place stay in one module. The CLI does not link against plugins: the reader is
     * loaded from the plugin that declares the journal hook, through pf4j.
     */
    private List<String> journal() {
        ContainerIds.check(id);
        PluginCatalog catalog = root.injector().getInstance(PluginCatalog.class);
        PluginCatalog.Entry entry = catalog.entries().stream()
                .filter(e -> e.hooks() != null && e.hooks().contains(JOURNAL_HOOK))
                .findFirst()
                .orElseThrow(() -> new CapsaException("no plugin in " + catalog.folder() + " provides the "
                        + JOURNAL_HOOK + " hook"));
        CapsaPluginManager plugins = root.injector().getInstance(CapsaPluginManager.class);
        String pluginId = plugins.load(entry.path());
        try {
            Class<?> reader = plugins.getPluginClassLoader(pluginId).loadClass(JOURNAL_READER);
            Method lines = reader.getMethod("lines", Path.class, String.class);
            @SuppressWarnings("unchecked")
            List<String> result = (List<String>) lines.invoke(null,
                    root.injector().getInstance(CapsaSettings.class).root(), id);
            return result;
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new CapsaException("plugin " + pluginId + " cannot read the journal: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new CapsaException("plugin " + pluginId + " has no journal reader: " + e, e);
        }
    }

    private static final String JOURNAL_HOOK = "journal";
    private static final String JOURNAL_READER = "dev.capsa.hooks.JournalReader";

    /** The subset of Go's time.ParseDuration that runc users pass. */
    static final class GoDuration {
        private GoDuration() {
        }

        static Duration parse(String text) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+(?:\\.\\d+)?)(ns|us|ms|s|m|h)")
                    .matcher(text);
            double nanos = 0;
            int end = 0;
            while (m.find() && m.start() == end) {
                double value = Double.parseDouble(m.group(1));
                nanos += value * switch (m.group(2)) {
                    case "ns" -> 1;
                    case "us" -> 1e3;
                    case "ms" -> 1e6;
                    case "s" -> 1e9;
                    case "m" -> 60e9;
                    default -> 3600e9;
                };
                end = m.end();
            }
            if (end == 0 || end != text.length() || nanos <= 0) {
                throw new CapsaException("invalid duration \"" + text + "\": use a number with a unit, like 5s or 500ms");
            }
            return Duration.ofNanos((long) nanos);
        }
    }
}
