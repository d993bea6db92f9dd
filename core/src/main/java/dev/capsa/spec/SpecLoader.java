package dev.capsa.spec;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.exc.InputCoercionException;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import dev.capsa.error.CapsaException;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.error.NotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Map;

/**
 * Reads config.json and process.json into records. Every problem with the content becomes an
 * {@link InvalidSpecException} that points at the field, in one short line; problems with the
 * file itself name the path.
 */
public final class SpecLoader {
    /**
     * The largest config.json or process.json read, in bytes. Real ones, large seccomp profiles
     * included, are tens of KiB; the bound keeps a hostile file from filling the (shared, warm)
     * server's heap with a tree, or from keeping a read going for ever.
     */
    public static final int MAX_LENGTH = 8 * 1024 * 1024;

    private SpecLoader() {
    }

    /** Reads {@code <bundle>/config.json}. */
    public static Spec load(Path bundle) {
        if (!Files.isDirectory(bundle)) {
            if (Files.notExists(bundle)) {
                throw new NotFoundException("bundle " + bundle + " does not exist");
            }
            throw new CapsaException("bundle " + bundle + " is not a directory");
        }
        Path config = bundle.resolve("config.json");
        if (Files.notExists(config)) {
            throw new NotFoundException("config.json not found in bundle " + bundle);
        }
        return readFile(config, Spec.class);
    }

    /** Parses a copy the runtime wrote itself (bounded by the mapper's limit, not {@link #MAX_LENGTH}). */
    public static Spec parse(byte[] json) {
        try (JsonParser parser = Json.mapper().createParser(json)) {
            return read(parser, Spec.class);
        } catch (IOException e) {
            // a byte array has no I/O to fail; read() turned every content problem into InvalidSpecException
            throw new CapsaException("cannot parse config.json: " + e.getMessage(), e);
        }
    }

    /** Reads the process file of {@code capsa exec --process}: a config.md "process" object alone. */
    public static ProcessSpec loadProcess(Path processJson) {
        if (Files.notExists(processJson)) {
            throw new NotFoundException("process file " + processJson + " does not exist");
        }
        return readFile(processJson, ProcessSpec.class);
    }

    /** config.json text as {@code runc spec} would write it. */
    public static String toJson(Spec spec) {
        return Json.pretty(spec);
    }

    private static <T> T readFile(Path file, Class<T> type) {
        byte[] json;
        // a fifo or a device would block or never end: only a regular file is read
        if (Files.exists(file) && !Files.isRegularFile(file)) {
            throw new CapsaException("cannot read " + file + ": not a regular file");
        }
        try (InputStream in = Files.newInputStream(file)) {
            // one byte more than allowed tells a file at the limit from one beyond it, without reading the rest
            json = in.readNBytes(MAX_LENGTH + 1);
        } catch (IOException e) {
            throw new CapsaException("cannot read " + file + ": " + reason(e), e);
        }
        checkLength(json.length);
        try (JsonParser parser = Json.mapper().createParser(json)) {
            return read(parser, type);
        } catch (IOException e) {
            // a byte array has no I/O to fail; read() turned every content problem into InvalidSpecException
            throw new CapsaException("cannot parse " + file + ": " + reason(e), e);
        }
    }

    private static void checkLength(int length) {
        if (length > MAX_LENGTH) {
            throw new InvalidSpecException("", "document is too large: more than " + MAX_LENGTH + " bytes");
        }
    }

    /** Throws IOException only for a failure to read; bad content becomes InvalidSpecException. */
    private static <T> T read(JsonParser parser, Class<T> type) throws IOException {
        try {
            JsonToken first = parser.nextToken();
            if (first == null) {
                throw new InvalidSpecException("", "document is empty");
            }
            if (first != JsonToken.START_OBJECT) {
                throw new InvalidSpecException("", "expected an object, got " + describe(first));
            }
            return Json.mapper().readValue(parser, type);
        } catch (JsonProcessingException e) {
            throw invalid(e, parser);
        }
    }

    private static InvalidSpecException invalid(JsonProcessingException e, JsonParser parser) {
        // databind wraps stream errors met inside a record in a JsonMappingException that carries the path
        String mapped = e instanceof JsonMappingException mapping ? pointerOf(mapping) : null;
        for (Throwable cause = e; cause != null; cause = cause.getCause()) {
            if (cause instanceof StreamConstraintsException limit) {
                // the parser's own path inside a 200-deep value would not fit on a line; the field holding it does
                String problem = limit.getOriginalMessage().contains("nesting depth")
                        ? "document is nested deeper than " + Json.MAX_NESTING_DEPTH + " levels"
                        : "document is too large: " + lowerFirst(firstLine(limit.getOriginalMessage()));
                return new InvalidSpecException(mapped == null ? "" : mapped, problem, e);
            }
            if (cause instanceof InputCoercionException coercion) {
                return new InvalidSpecException(mapped == null ? pointerOf(parser) : mapped,
                        "number out of range, expected " + expected(coercion.getTargetType()), e);
            }
            if (cause instanceof StreamReadException read) {
                var where = read.getLocation();
                String at = where == null ? "" : " at line " + where.getLineNr() + ", column " + where.getColumnNr();
                return new InvalidSpecException(mapped == null ? pointerOf(parser) : mapped,
                        "malformed json" + at + ": " + lowerFirst(firstLine(read.getOriginalMessage())), e);
            }
        }
        if (e instanceof JsonMappingException mapping) {
            if (mapping instanceof MismatchedInputException mismatch && mismatch.getTargetType() != null) {
                JsonToken found = parser.currentToken();
                String got = found == null ? "" : ", got " + describe(found);
                return new InvalidSpecException(mapped, "expected " + expected(mismatch.getTargetType()) + got, e);
            }
            if (mapping instanceof ValueInstantiationException && e.getCause() != null) {
                return new InvalidSpecException(mapped, "invalid value: " + firstLine(e.getCause().getMessage()), e);
            }
            return new InvalidSpecException(mapped, lowerFirst(firstLine(mapping.getOriginalMessage())), e);
        }
        return new InvalidSpecException(pointerOf(parser), lowerFirst(firstLine(e.getOriginalMessage())), e);
    }

    /** The RFC 6901 pointer of the field Jackson was binding when it failed. */
    static String pointerOf(JsonMappingException e) {
        StringBuilder pointer = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                pointer.append('/').append(escape(ref.getFieldName()));
            } else if (ref.getIndex() >= 0) {
                pointer.append('/').append(ref.getIndex());
            }
        }
        return pointer.toString();
    }

    private static String pointerOf(JsonParser parser) {
        // JsonPointer escapes ~ and / itself
        return parser.getParsingContext().pathAsPointer().toString();
    }

    static String escape(String name) {
        return name.replace("~", "~0").replace("/", "~1");
    }

    private static String expected(Class<?> type) {
        if (type == null) {
            return "another type";
        }
        if (CharSequence.class.isAssignableFrom(type)) {
            return "a string";
        }
        if (type == Long.class || type == long.class) {
            return "an integer of at most 64 bits";
        }
        if (type == Integer.class || type == int.class) {
            return "an integer of at most 32 bits";
        }
        if (type == BigInteger.class) {
            return "an integer";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "a boolean";
        }
        if (Collection.class.isAssignableFrom(type) || type.isArray()) {
            return "an array";
        }
        if (Map.class.isAssignableFrom(type) || type.isRecord() || JsonNode.class.isAssignableFrom(type)) {
            return "an object";
        }
        return "a " + type.getSimpleName();
    }

    private static String describe(JsonToken token) {
        return switch (token) {
            case START_OBJECT, END_OBJECT, FIELD_NAME -> "an object";
            case START_ARRAY, END_ARRAY -> "an array";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT -> "an integer";
            case VALUE_NUMBER_FLOAT -> "a fractional number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> token.name().toLowerCase();
        };
    }

    private static String reason(IOException e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such file";
        }
        if (e instanceof FileSystemException fs && fs.getReason() != null) {
            return lowerFirst(fs.getReason());
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : lowerFirst(firstLine(e.getMessage()));
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "unknown error";
        }
        int newline = message.indexOf('\n');
        String line = newline < 0 ? message : message.substring(0, newline);
        // Jackson appends "(start marker at [Source: ...])" or "(for Object starting at [Source: ...])"
        // to some messages: its internals, which the line and column say better
        int marker = line.indexOf(" (start marker at");
        if (marker < 0) {
            marker = line.indexOf(" (for ");
            marker = marker >= 0 && line.indexOf("[Source:", marker) > 0 ? marker : -1;
        }
        if (marker < 0) {
            marker = line.indexOf(" [Source:");
        }
        line = (marker < 0 ? line : line.substring(0, marker)).strip();
        return line.endsWith(".") ? line.substring(0, line.length() - 1) : line;
    }

    private static String lowerFirst(String text) {
        if (text.isEmpty() || !Character.isUpperCase(text.charAt(0))) {
            return text;
        }
        return Character.toLowerCase(text.charAt(0)) + text.substring(1);
    }
}
