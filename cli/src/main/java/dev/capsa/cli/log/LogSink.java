package dev.capsa.cli.log;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import org.slf4j.event.Level;

/**
 * Where log lines go, in runc's two formats: text ({@code time="..." level=warning msg="..."})
 * and JSON lines ({@code {"level":"error","msg":"...","time":"..."}}), which containerd and podman
 * read back from --log to show a runtime's error to their user.
 */
public final class LogSink {
    public enum Format { TEXT, JSON }

    private static volatile LogSink current = new LogSink(System.err, Format.TEXT, Level.WARN, null);
    /** Under the capsa server each request has its sink, on its thread and the threads it starts. */
    private static final InheritableThreadLocal<LogSink> BOUND = new InheritableThreadLocal<>();
    private static volatile boolean server;

    private final PrintStream out;
    private final Format format;
    private final Level threshold;
    private final OutputStream file;

    private LogSink(PrintStream out, Format format, Level threshold, OutputStream file) {
        this.out = out;
        this.format = format;
        this.threshold = threshold;
        this.file = file;
    }

    /** Sets the destination: --log FILE (appended) or stderr, the format, and --debug. */
    public static void configure(Path logFile, Format format, boolean debug, PrintStream stderr) throws IOException {
        PrintStream out = stderr;
        OutputStream file = null;
        if (logFile != null) {
            file = new FileOutputStream(dev.capsa.os.Caller.resolve(logFile).toFile(), true);
            out = new PrintStream(file, true, StandardCharsets.UTF_8);
        }
        LogSink sink = new LogSink(out, format, debug ? Level.DEBUG : Level.WARN, file);
        if (server) {
            BOUND.set(sink);
        } else {
            current = sink;
        }
    }

    /** The capsa server: from now on {@link #configure} binds the sink to the request's thread. */
    public static void serverMode() {
        server = true;
    }

    /** The end of a server request: its --log file is closed. */
    public static void release() {
        LogSink sink = BOUND.get();
        BOUND.remove();
        if (sink != null && sink.file != null) {
            try {
                sink.file.close();
            } catch (IOException e) {
                // the lines are written; closing is tidiness
            }
        }
    }

    public static LogSink get() {
        LogSink sink = BOUND.get();
        return sink != null ? sink : current;
    }

    public boolean enabled(Level level) {
        return level.toInt() >= threshold.toInt();
    }

    /** True when lines go to a --log file rather than the terminal's stderr. */
    public boolean toFile() {
        return file != null;
    }

    public void write(Level level, String message) {
        String time = DateTimeFormatter.ISO_OFFSET_DATE_TIME.format(Instant.now().atOffset(ZoneOffset.UTC));
        String name = levelName(level);
        String line;
        if (format == Format.JSON) {
            line = "{\"level\":\"" + name + "\",\"msg\":" + quote(message) + ",\"time\":\"" + time + "\"}";
        } else {
            line = "time=\"" + time + "\" level=" + name + " msg=" + quote(message);
        }
        synchronized (this) {
            out.println(line);
            out.flush();
        }
    }

    private static String levelName(Level level) {
        return switch (level) {
            case ERROR -> "error";
            case WARN -> "warning";
            case INFO -> "info";
            case DEBUG -> "debug";
            case TRACE -> "trace";
        };
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
