package dev.capsa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.CapsaException;
import dev.capsa.error.WrongStateException;
import dev.capsa.spec.Json;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "events", description = "Print a container's resource statistics as JSON events.")
final class EventsCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Option(names = "--stats", description = "print statistics once and exit")
    boolean stats;

    @Option(names = "--interval", paramLabel = "DURATION", defaultValue = "5s",
            description = "time between statistics events (Go duration: 500ms, 5s, 1m)")
    String interval;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Override
    public Integer call() throws InterruptedException {
        Duration every = GoDuration.parse(interval);
        while (true) {
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
            Thread.sleep(every.toMillis());
        }
    }

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
