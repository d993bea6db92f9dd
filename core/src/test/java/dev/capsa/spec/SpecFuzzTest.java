package dev.capsa.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamWriteConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.InvalidSpecException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A seeded random mutator over the spec loader and validator. It starts from {@code capsa spec}'s
 * document and, per input, applies a few mutations: a value replaced by one of another type, a
 * field or element deleted, an unknown field added, a value nested deep, a huge array or string,
 * then perhaps bytes changed (invalid UTF-8, truncation, random bytes). Every input must either
 * load (and then validate, or fail validation with an {@link InvalidSpecException} that carries a
 * JSON pointer) or fail to load with an {@link InvalidSpecException}: never another exception or
 * error. The seed is new each run and printed; {@code -Dcapsa.fuzz.seed=S} replays a run, and
 * {@code -Dcapsa.fuzz.inputs=N} / {@code -Dcapsa.fuzz.seconds=T} change its bounds.
 */
class SpecFuzzTest {
    private static final int INPUTS = Integer.getInteger("capsa.fuzz.inputs", 5000);
    private static final long SECONDS = Long.getLong("capsa.fuzz.seconds", 10);
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    /** Writes the inputs: stacked nesting mutations go past the 1000 levels a writer allows by default. */
    private static final ObjectMapper WRITER = JsonMapper.builder(JsonFactory.builder()
            .streamWriteConstraints(StreamWriteConstraints.builder().maxNestingDepth(100_000).build()).build()).build();

    @TempDir
    Path bundle;

    @Test
    void everyMutatedDocumentLoadsOrFailsWithAPointer() throws IOException {
        long seed = Long.getLong("capsa.fuzz.seed", new SplittableRandom().nextLong());
        System.out.println("SpecFuzzTest: seed " + seed + " (replay with -Dcapsa.fuzz.seed=" + seed + ")");
        Files.createDirectory(bundle.resolve("rootfs"));
        JsonNode base = Json.mapper().readTree(SpecLoader.toJson(DefaultSpec.example(true)));
        SplittableRandom random = new SplittableRandom(seed);
        long deadline = System.nanoTime() + SECONDS * 1_000_000_000L;
        int loaded = 0;
        int valid = 0;
        int inputs = 0;
        for (; inputs < INPUTS && System.nanoTime() < deadline; inputs++) {
            ObjectNode doc = base.deepCopy();
            int mutations = 1 + random.nextInt(4);
            for (int m = 0; m < mutations; m++) {
                mutateTree(doc, random);
            }
            byte[] bytes = WRITER.writeValueAsBytes(doc);
            if (random.nextInt(4) == 0) {
                bytes = mutateBytes(bytes, random);
            }
            String where = "seed " + seed + ", input " + inputs + ": " + preview(bytes);
            Outcome outcome = check(bytes, where);
            loaded += outcome.ordinal() >= Outcome.LOADED.ordinal() ? 1 : 0;
            valid += outcome == Outcome.VALID ? 1 : 0;
            if (inputs % 10 == 0 && doc.get("process") != null) {
                checkProcessFile(WRITER.writeValueAsBytes(doc.get("process")), where);
            }
        }
        System.out.println("SpecFuzzTest: " + inputs + " inputs, " + loaded + " loaded, " + valid + " valid");
        // the bound is a floor too: a run that checked almost nothing proves nothing
        assertTrue(inputs >= Math.min(INPUTS, 200), "only " + inputs + " inputs in " + SECONDS + " s");
        // the mutator must not only produce garbage: some inputs get past the loader into the validator
        assertTrue(loaded > 0, "no input loaded (seed " + seed + ")");
    }

    private enum Outcome { REJECTED, LOADED, VALID }

    private Outcome check(byte[] bytes, String where) {
        Spec spec;
        try {
            spec = SpecLoader.parse(bytes);
        } catch (InvalidSpecException e) {
            assertClear(e, where);
            return Outcome.REJECTED;
        } catch (Throwable t) {
            throw new AssertionError("the loader threw " + t + " for " + where, t);
        }
        try {
            SpecValidator.validate(spec, bundle);
        } catch (InvalidSpecException e) {
            assertClear(e, where);
            return Outcome.LOADED;
        } catch (Throwable t) {
            throw new AssertionError("the validator threw " + t + " for " + where, t);
        }
        try {
            // what was loaded can be written back (the state keeps a copy) and read again
            // bytes straight from the generator: a lone surrogate (Jackson reads the CESU-8 form) has no UTF-8 String form
            byte[] writtenBytes = Json.mapper().writeValueAsBytes(spec);
            String written = SpecLoader.toJson(spec);
            Spec again = SpecLoader.parse(writtenBytes);
            if (!spec.equals(again)) {
                fail("written back, it reads as another spec; first difference: " + difference(written,
                        SpecLoader.toJson(again)) + " for " + where);
            }
        } catch (Throwable t) {
            throw new AssertionError("a loaded spec did not survive a round trip: " + t + " for " + where, t);
        }
        return Outcome.VALID;
    }

    private void checkProcessFile(byte[] bytes, String where) throws IOException {
        Path file = Files.write(bundle.resolve("process.json"), bytes);
        ProcessSpec process;
        try {
            process = SpecLoader.loadProcess(file);
        } catch (InvalidSpecException e) {
            assertClear(e, "process of " + where);
            return;
        } catch (Throwable t) {
            throw new AssertionError("loadProcess threw " + t + " for the process of " + where, t);
        }
        try {
            SpecValidator.validateProcess(process);
        } catch (InvalidSpecException e) {
            assertClear(e, "process of " + where);
        } catch (Throwable t) {
            throw new AssertionError("validateProcess threw " + t + " for the process of " + where, t);
        }
    }

    private static void assertClear(InvalidSpecException e, String where) {
        String pointer = e.pointer();
        assertTrue(pointer.isEmpty() || pointer.startsWith("/"), "pointer \"" + pointer + "\" for " + where);
        assertTrue(e.getMessage().startsWith(pointer), e.getMessage() + " for " + where);
        assertFalse(e.getMessage().contains("com.fasterxml") || e.getMessage().contains("Source:"),
                e.getMessage() + " for " + where);
        assertFalse(e.getMessage().isBlank(), where);
    }

    // ---- the mutator

    /** Every container node of the tree (objects and arrays), the root first. */
    private static List<JsonNode> containers(JsonNode root) {
        List<JsonNode> all = new ArrayList<>();
        List<JsonNode> todo = new ArrayList<>(List.of(root));
        while (!todo.isEmpty()) {
            JsonNode node = todo.removeLast();
            if (node.isContainerNode()) {
                all.add(node);
                node.forEach(todo::add);
            }
        }
        return all;
    }

    private static void mutateTree(ObjectNode root, SplittableRandom random) {
        List<JsonNode> containers = containers(root);
        JsonNode target = containers.get(random.nextInt(containers.size()));
        int op = random.nextInt(10);
        if (target instanceof ObjectNode object) {
            List<String> names = new ArrayList<>();
            object.fieldNames().forEachRemaining(names::add);
            String name = names.isEmpty() || op == 9 ? unknownName(random) : names.get(random.nextInt(names.size()));
            switch (op) {
                case 0, 1, 2, 3 -> object.set(name, wrongValue(random));
                case 4 -> object.remove(name);
                case 5 -> object.set(name, nested(object.get(name), 1 + random.nextInt(400), random));
                case 6 -> object.set(name, huge(random));
                case 7 -> object.set(name, NODES.textNode(oddString(random)));
                default -> object.set(name, wrongValue(random));
            }
        } else {
            ArrayNode array = (ArrayNode) target;
            int index = array.isEmpty() ? -1 : random.nextInt(array.size());
            switch (op) {
                case 0, 1, 2, 3 -> {
                    if (index < 0) {
                        array.add(wrongValue(random));
                    } else {
                        array.set(index, wrongValue(random));
                    }
                }
                case 4 -> {
                    if (index >= 0) {
                        array.remove(index);
                    }
                }
                case 5 -> array.add(nested(index < 0 ? NODES.nullNode() : array.get(index), 1 + random.nextInt(400),
                        random));
                case 6 -> array.add(huge(random));
                case 7 -> array.add(NODES.textNode(oddString(random)));
                default -> array.add(wrongValue(random));
            }
        }
    }

    private static String unknownName(SplittableRandom random) {
        return switch (random.nextInt(5)) {
            case 0 -> "x-unknown-" + random.nextInt(1000);
            case 1 -> "";
            case 2 -> "a/b~c";
            case 3 -> oddString(random);
            default -> "org.example.field";
        };
    }

    private static JsonNode wrongValue(SplittableRandom random) {
        return switch (random.nextInt(16)) {
            case 0 -> NODES.nullNode();
            case 1 -> NODES.booleanNode(random.nextBoolean());
            case 2 -> NODES.numberNode(random.nextInt());
            case 3 -> NODES.numberNode(-1);
            case 4 -> NODES.numberNode(Long.MAX_VALUE);
            case 5 -> NODES.numberNode(BigInteger.TWO.pow(64 + random.nextInt(200)).negate());
            case 6 -> NODES.numberNode(BigInteger.TWO.pow(64));
            case 7 -> NODES.numberNode(new BigDecimal("1.5"));
            case 8 -> NODES.numberNode(new BigDecimal("1e400"));
            case 9 -> NODES.textNode(oddString(random));
            case 10 -> NODES.objectNode();
            case 11 -> NODES.arrayNode();
            case 12 -> NODES.arrayNode().add(NODES.nullNode());
            case 13 -> NODES.objectNode().put("x", 1).set("y", NODES.arrayNode().add("z"));
            case 14 -> NODES.textNode("");
            default -> NODES.numberNode(0);
        };
    }

    private static String oddString(SplittableRandom random) {
        return switch (random.nextInt(10)) {
            case 0 -> "";
            case 1 -> "\u0000";
            case 2 -> "relative/path";
            case 3 -> "/";
            case 4 -> "../../../../etc/shadow";
            case 5 -> "RLIMIT_";
            case 6 -> "\ud800"; // a lone surrogate, written out as replacement by the generator
            case 7 -> "line\nbreak";
            case 8 -> "1.2.1-" + "9".repeat(random.nextInt(50));
            default -> "𝄞 ünïcödé " + random.nextLong();
        };
    }

    /** {@code value} inside {@code depth} arrays or objects. */
    private static JsonNode nested(JsonNode value, int depth, SplittableRandom random) {
        JsonNode node = value == null ? NODES.numberNode(1) : value;
        boolean arrays = random.nextBoolean();
        for (int i = 0; i < depth; i++) {
            node = arrays ? NODES.arrayNode().add(node) : NODES.objectNode().set("n", node);
        }
        return node;
    }

    private static JsonNode huge(SplittableRandom random) {
        int size = 1 + random.nextInt(100_000);
        if (random.nextBoolean()) {
            return NODES.textNode("x".repeat(size * 10));
        }
        ArrayNode array = NODES.arrayNode(size);
        JsonNode element = random.nextBoolean() ? NODES.textNode("/x") : NODES.numberNode(random.nextInt(3));
        for (int i = 0; i < size; i++) {
            array.add(element);
        }
        return array;
    }

    private static byte[] mutateBytes(byte[] bytes, SplittableRandom random) {
        int at = bytes.length == 0 ? 0 : random.nextInt(bytes.length);
        return switch (random.nextInt(6)) {
            case 0 -> Arrays.copyOf(bytes, at); // truncated
            case 1 -> insert(bytes, at, new byte[] {(byte) 0xC3, (byte) 0x28}); // invalid UTF-8 sequence
            case 2 -> insert(bytes, at, new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}); // encoded surrogate
            case 3 -> insert(bytes, at, new byte[] {(byte) 0xFF, (byte) 0xFE, 0});
            case 4 -> {
                byte[] flipped = bytes.clone();
                for (int i = 0; i < 1 + random.nextInt(8) && flipped.length > 0; i++) {
                    flipped[random.nextInt(flipped.length)] = (byte) random.nextInt(256);
                }
                yield flipped;
            }
            default -> insert(bytes, at, Arrays.copyOfRange(bytes, 0, Math.min(at, 64))); // a chunk repeated
        };
    }

    private static byte[] insert(byte[] bytes, int at, byte[] extra) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(bytes.length + extra.length);
        out.write(bytes, 0, at);
        out.write(extra, 0, extra.length);
        out.write(bytes, at, bytes.length - at);
        return out.toByteArray();
    }

    private static String difference(String a, String b) {
        int i = 0;
        while (i < Math.min(a.length(), b.length()) && a.charAt(i) == b.charAt(i)) {
            i++;
        }
        int from = Math.max(0, i - 80);
        return "«" + visible(a.substring(from, Math.min(a.length(), i + 80))) + "» against «"
                + visible(b.substring(from, Math.min(b.length(), i + 80))) + "»";
    }

    private static String visible(String text) {
        StringBuilder out = new StringBuilder();
        text.chars().forEach(c -> out.append(c < 0x20 || Character.isSurrogate((char) c) || c > 0x7e
                ? String.format("\\u%04x", c) : String.valueOf((char) c)));
        return out.toString();
    }

    private static String preview(byte[] bytes) {
        String text = new String(bytes, 0, Math.min(bytes.length, 400), StandardCharsets.UTF_8);
        return bytes.length + " bytes: " + text + (bytes.length > 400 ? "..." : "");
    }

    // ---- the bounds a runtime must keep

    @Test
    void aHundredThousandNestedArraysAreAClearErrorQuickly() {
        String deep = "{\"x\": " + "[".repeat(100_000) + "]".repeat(100_000) + "}";

        long start = System.nanoTime();
        Throwable thrown = catchAll(() -> SpecLoader.parse(deep.getBytes(StandardCharsets.UTF_8)));

        if (!(thrown instanceof InvalidSpecException e)) {
            throw new AssertionError("expected an InvalidSpecException, got " + thrown, thrown);
        }
        assertEquals("/x: document is nested deeper than 200 levels", e.getMessage());
        assertTrue(System.nanoTime() - start < 5_000_000_000L, "took " + (System.nanoTime() - start) / 1_000_000 + " ms");
    }

    @Test
    void aFiftyMegabyteConfigIsRejectedWithoutReadingIt() throws IOException {
        Files.createDirectory(bundle.resolve("rootfs"));
        Path config = bundle.resolve("config.json");
        // valid json that would load: an unknown field holding a huge array
        try (var out = Files.newOutputStream(config)) {
            out.write("{\"ociVersion\": \"1.2.1\", \"root\": {\"path\": \"rootfs\"}, \"x\": [0".getBytes(StandardCharsets.UTF_8));
            byte[] chunk = ",0".repeat(1 << 20).getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < 25; i++) {
                out.write(chunk);
            }
            out.write("]}".getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(Files.size(config) > 50_000_000L);

        long start = System.nanoTime();
        Throwable thrown = catchAll(() -> SpecLoader.load(bundle));

        if (!(thrown instanceof InvalidSpecException e)) {
            throw new AssertionError("expected an InvalidSpecException, got " + thrown, thrown);
        }
        assertEquals("document is too large: more than " + SpecLoader.MAX_LENGTH + " bytes", e.getMessage());
        assertTrue(System.nanoTime() - start < 5_000_000_000L, "took " + (System.nanoTime() - start) / 1_000_000 + " ms");
    }

    @Test
    void aConfigAtTheLimitStillLoads() throws IOException {
        Files.createDirectory(bundle.resolve("rootfs"));
        String head = "{\"ociVersion\": \"1.2.1\", \"root\": {\"path\": \"rootfs\"}, \"annotations\": {\"a\": \"";
        String tail = "\"}}";
        String padding = "x".repeat(SpecLoader.MAX_LENGTH - head.length() - tail.length());
        Files.writeString(bundle.resolve("config.json"), head + padding + tail);

        Spec spec = SpecLoader.load(bundle);

        assertEquals(padding.length(), spec.annotations().get("a").length());
    }

    @Test
    void aConfigThatIsAFifoIsRefusedInsteadOfBlocking() throws Exception {
        Path fifo = bundle.resolve("config.json");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
        if (mkfifo.waitFor() != 0) {
            fail("mkfifo failed");
        }

        Throwable thrown = catchAll(() -> SpecLoader.load(bundle));

        assertEquals("cannot read " + fifo + ": not a regular file", thrown.getMessage());
    }

    private static Throwable catchAll(Runnable action) {
        try {
            action.run();
        } catch (Throwable t) {
            return t;
        }
        throw new AssertionError("no exception");
    }
}
