package dev.capsa.hooks;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.CapsaException;
import dev.capsa.plugin.CapsaSettings;
import dev.capsa.spec.Json;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.LifecycleHook;
import dev.capsa.state.ContainerRecord;
import dev.capsa.state.FileStateStore;
import dev.capsa.state.OciState;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import org.pf4j.Extension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hook plugin "journal": appends one JSON line per lifecycle phase a container passes to
 * {@code <root>/.journal/<id>.jsonl} (see {@link JournalReader}), where it outlives delete.
 * It never fails a container: a journal it cannot write is a warning.
 *
 * <p>Cleanup: prestart, the first phase of a create, replaces the journal of an earlier container
 * with the same id, and removes the journals of deleted containers last written more than
 * {@link #RETENTION} ago. The state root is usually a tmpfs, so a reboot clears them all.
 */
@Extension(ordinal = 10)
public final class EventJournal implements LifecycleHook {
    private static final Logger LOG = LoggerFactory.getLogger(EventJournal.class);
    public static final String NAME = "journal";
    static final Duration RETENTION = Duration.ofHours(24);
    /** How often a create sweeps the journals of deleted containers: not every time (the folder can hold thousands). */
    static final Duration SWEEP_EVERY = Duration.ofMinutes(1);
    /** In the journal folder: its modification time says when the last sweep ran. */
    static final String SWEPT = ".swept";
    /** RFC 3339 with nanoseconds, in UTC, as runc and containerd write times. */
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX");

    private final Path root;
    private final Clock clock;
    /** Backends read once per container: an instance serves one command, whose container keeps its backend. */
    private final java.util.Map<String, Optional<String>> backends = new java.util.concurrent.ConcurrentHashMap<>();

    @Inject
    public EventJournal(CapsaSettings settings) {
        this(settings.root(), Clock.systemUTC());
    }

    EventJournal(Path root, Clock clock) {
        this.root = dev.capsa.os.Caller.resolve(root);
        this.clock = clock;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Set<HookPhase> phases() {
        return EnumSet.allOf(HookPhase.class);
    }

    @Override
    public void run(HookPhase phase, OciState state) {
        Path file = JournalReader.file(root, state.id());
        try {
            if (phase == HookPhase.PRESTART) {
                startNew(file);
            }
            append(file, line(phase, state));
        } catch (IOException | CapsaException e) {
            LOG.warn("container \"{}\": cannot write its journal {}: {}", state.id(), file, e.getMessage());
        }
    }

    /** One JSON object: time, id, backend (when the state record names it), phase, status, pid (when there is one). */
    String line(HookPhase phase, OciState state) {
        ObjectNode event = Json.mapper().createObjectNode();
        event.put("time", TIME.format(Instant.now(clock).atOffset(ZoneOffset.UTC)));
        event.put("id", state.id());
        backends.computeIfAbsent(state.id(), this::backend).ifPresent(b -> event.put("backend", b));
        event.put("phase", phase.specName());
        event.put("status", state.status());
        if (state.pid() != null && state.pid() > 0) {
            event.put("pid", state.pid());
        }
        return event + "\n";
    }

    /** The backend recorded in the container's state, read without its lock: the engine holds it. */
    private Optional<String> backend(String id) {
        try {
            return new FileStateStore(root, Duration.ZERO).read(id).map(ContainerRecord::backend);
        } catch (CapsaException e) {
            LOG.debug("container \"{}\": no backend for its journal: {}", id, e.getMessage());
            return Optional.empty();
        }
    }

    /**
     * One write(2) of the whole line on an O_APPEND descriptor: concurrent writers never interleave
     * within a line (the kernel appends each write whole), and a crash leaves at worst a torn last
     * line, which {@link JournalReader} skips. No fdatasync: the journal lives in the state root,
     * a tmpfs on most hosts, and a sync per phase cost milliseconds on a disk.
     */
    static void append(Path file, String line) throws IOException {
        byte[] bytes = line.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buffer = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
        if (Files.notExists(file)) {
            Files.createDirectories(file.getParent());
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND)) {
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        }
    }

    /** A new container of this id: its predecessor's journal goes, and so do stale ones of deleted containers. */
    private void startNew(Path file) throws IOException {
        Files.deleteIfExists(file);
        Path dir = file.getParent();
        if (!Files.isDirectory(dir)) {
            return;
        }
        Instant now = Instant.now(clock);
        Path swept = dir.resolve(SWEPT);
        try {
            if (Files.getLastModifiedTime(swept).toInstant().isAfter(now.minus(SWEEP_EVERY))) {
                return; // swept a moment ago: a busy engine's creates do not each read the whole folder
            }
        } catch (java.nio.file.NoSuchFileException e) {
            Files.write(swept, new byte[0]);
        }
        Files.setLastModifiedTime(swept, java.nio.file.attribute.FileTime.from(now));
        Instant cutoff = now.minus(RETENTION);
        try (DirectoryStream<Path> journals = Files.newDirectoryStream(dir, "*.jsonl")) {
            for (Path journal : journals) {
                String name = journal.getFileName().toString();
                String id = name.substring(0, name.length() - ".jsonl".length());
                if (!Files.exists(root.resolve(id))
                        && Files.getLastModifiedTime(journal).toInstant().isBefore(cutoff)) {
                    Files.deleteIfExists(journal);
                }
            }
        }
    }
}
