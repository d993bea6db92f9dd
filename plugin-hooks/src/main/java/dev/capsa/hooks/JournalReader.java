package dev.capsa.hooks;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.error.CapsaException;
import dev.capsa.error.NotFoundException;
import dev.capsa.spec.Json;
import dev.capsa.state.ContainerIds;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the journal that {@link EventJournal} keeps: {@code <root>/.journal/<id>.jsonl}, one JSON
 * object per line. It lives beside the containers' directories rather than in one, because delete
 * removes {@code <root>/<id>} right after poststop; a container id never starts with a dot, so
 * {@code list} does not take it for a container.
 */
public final class JournalReader {
    /** The journal folder under the state root. */
    public static final String DIR = ".journal";

    private JournalReader() {
    }

    public static Path file(Path root, String id) {
        return root.resolve(DIR).resolve(ContainerIds.check(id) + ".jsonl");
    }

    /**
     * The whole lines of the container's journal, oldest first. A last line without its newline was
     * torn by a crash mid-write and is skipped, as is any line that is not a JSON object (a torn
     * line that a later append completed with someone else's line).
     *
     * @throws NotFoundException when the container has no journal
     */
    public static List<String> lines(Path root, String id) {
        Path file = file(root, id);
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new NotFoundException("container \"" + id + "\" has no journal (" + file + ")");
        } catch (IOException e) {
            throw new CapsaException("cannot read the journal of container \"" + id + "\": " + file + ": "
                    + e.getMessage(), e);
        }
        List<String> lines = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == '\n') {
                String line = new String(bytes, start, i - start, StandardCharsets.UTF_8);
                if (isObject(line)) {
                    lines.add(line);
                }
                start = i + 1;
            }
        }
        return lines; // bytes after the last newline: a torn line, never shown
    }

    private static boolean isObject(String line) {
        try {
            JsonNode node = Json.mapper().readTree(line);
            return node != null && node.isObject();
        } catch (IOException e) {
            return false;
        }
    }
}
