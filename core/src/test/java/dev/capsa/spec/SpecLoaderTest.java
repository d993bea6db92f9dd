package dev.capsa.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.CapsaException;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.error.NotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SpecLoaderTest {
    @TempDir
    Path dir;

    @Test
    void loadReadsConfigJsonOfTheBundle() throws IOException {
        Files.writeString(dir.resolve("config.json"), SpecLoader.toJson(DefaultSpec.example(false)));

        Spec spec = SpecLoader.load(dir);

        assertEquals(DefaultSpec.example(false), spec);
    }

    @Test
    void missingBundleIsNotFoundAndNamesThePath() {
        Path bundle = dir.resolve("nope");

        NotFoundException e = assertThrows(NotFoundException.class, () -> SpecLoader.load(bundle));

        assertEquals("bundle " + bundle + " does not exist", e.getMessage());
    }

    @Test
    void missingConfigJsonIsNotFoundAndNamesTheBundle() {
        NotFoundException e = assertThrows(NotFoundException.class, () -> SpecLoader.load(dir));

        assertEquals("config.json not found in bundle " + dir, e.getMessage());
    }

    @Test
    void bundleThatIsAFileIsAnError() throws IOException {
        Path file = Files.writeString(dir.resolve("file"), "{}");

        CapsaException e = assertThrows(CapsaException.class, () -> SpecLoader.load(file));

        assertEquals("bundle " + file + " is not a directory", e.getMessage());
    }

    @Test
    void unreadableConfigNamesThePathAndTheReason() throws IOException {
        Files.createDirectory(dir.resolve("config.json"));

        CapsaException e = assertThrows(CapsaException.class, () -> SpecLoader.load(dir));

        assertFalse(e instanceof InvalidSpecException || e instanceof NotFoundException, e.toString());
        assertTrue(e.getMessage().startsWith("cannot read " + dir.resolve("config.json") + ": "), e.getMessage());
        assertEquals(-1, e.getMessage().indexOf('\n'));
    }

    @Test
    void configWithoutReadPermissionSaysPermissionDenied() throws IOException {
        Path config = Files.writeString(dir.resolve("config.json"), "{}");
        Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("---------"));
        Assumptions.assumeFalse(Files.isReadable(config), "running as root: file modes do not stop reading");

        CapsaException e = assertThrows(CapsaException.class, () -> SpecLoader.load(dir));

        assertEquals("cannot read " + config + ": permission denied", e.getMessage());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            {"process": {"args": [1]}}                  | /process/args/0    | /process/args/0: expected a string, got an integer
            {"process": {"args": [null]}}               | /process/args/0    | /process/args/0: expected a string, got null
            {"process": {"args": "sh"}}                 | /process/args      | /process/args: expected an array, got a string
            {"process": {"terminal": "yes"}}            | /process/terminal  | /process/terminal: expected a boolean, got a string
            {"process": {"user": {"uid": "0"}}}         | /process/user/uid  | /process/user/uid: expected an integer of at most 64 bits, got a string
            {"process": {"user": {"uid": 1.5}}}         | /process/user/uid  | /process/user/uid: expected an integer of at most 64 bits, got a fractional number
            {"process": "sh"}                           | /process           | /process: expected an object, got a string
            {"mounts": {}}                              | /mounts            | /mounts: expected an array, got an object
            {"mounts": [{}, {"options": [true]}]}       | /mounts/1/options/0 | /mounts/1/options/0: expected a string, got a boolean
            {"annotations": {"a/b~c": 5}}               | /annotations/a~1b~0c | /annotations/a~1b~0c: expected a string, got an integer
            {"linux": {"resources": {"memory": {"limit": "1G"}}}} | /linux/resources/memory/limit | /linux/resources/memory/limit: expected an integer of at most 64 bits, got a string
            {"linux": {"seccomp": {"syscalls": [{"args": [{"value": -1.0}]}]}}} | /linux/seccomp/syscalls/0/args/0/value | /linux/seccomp/syscalls/0/args/0/value: expected an integer, got a fractional number
            {"hooks": {"poststop": [{"timeout": "5"}]}} | /hooks/poststop/0/timeout | /hooks/poststop/0/timeout: expected an integer of at most 32 bits, got a string
            """)
    void wrongTypeNamesTheFieldAndWhatWasExpected(String json, String pointer, String message) {
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> parse(json));

        assertEquals(pointer, e.pointer());
        assertEquals(message, e.getMessage());
    }

    @Test
    void numberTooLargeForItsFieldIsOutOfRange() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> parse("{\"process\": {\"user\": {\"uid\": 18446744073709551616}}}"));

        assertEquals("/process/user/uid", e.pointer());
        assertEquals("/process/user/uid: number out of range, expected an integer of at most 64 bits", e.getMessage());
    }

    @Test
    void malformedJsonPointsAtWhereTheParserWas() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> parse("{\"process\": {\"cwd\": \"/\" \"args\": []}}"));

        // the object being read when the comma was missing
        assertEquals("/process", e.pointer());
        assertTrue(e.getMessage().startsWith("/process: malformed json at line 1, column 25: "), e.getMessage());
        assertOneShortLine(e);
    }

    @Test
    void truncatedDocumentIsMalformedWithoutEchoingTheInput() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> parse("{\"process\": {\"args\": [\"secret-token\""));

        // the element that was expected next
        assertEquals("/process/args/1", e.pointer());
        assertTrue(e.getMessage().contains("malformed json"), e.getMessage());
        assertFalse(e.getMessage().contains("secret-token"), e.getMessage());
        assertOneShortLine(e);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            ''        | document is empty
            '   '     | document is empty
            []        | expected an object, got an array
            '"x"'     | expected an object, got a string
            null      | expected an object, got null
            """)
    void documentThatIsNotAnObjectIsRejected(String json, String message) {
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> parse(json));

        assertEquals("", e.pointer());
        assertEquals(message, e.getMessage());
    }

    @Test
    void trailingContentAfterTheDocumentIsRejected() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> parse("{\"ociVersion\": \"1.2.1\"} {}"));

        assertOneShortLine(e);
    }

    @Test
    void tenThousandNestedArraysAreAnErrorNotAStackOverflow() {
        String deep = "[".repeat(10_000) + "]".repeat(10_000);

        for (String pointer : List.of("/x-unknown", "/solaris", "/linux/resources/x")) {
            String json = "{\"" + pointer.substring(1).replace("/", "\": {\"") + "\": " + deep
                    + "}".repeat(pointer.split("/").length - 1);
            // assertThrows(Throwable) so that a StackOverflowError fails the test instead of the run
            Throwable thrown = assertThrows(Throwable.class, () -> parse(json));
            InvalidSpecException e = assertInstanceOf(InvalidSpecException.class, thrown);
            assertEquals(pointer, e.pointer());
            assertEquals(pointer + ": document is nested deeper than 200 levels", e.getMessage());
        }
        assertEquals("expected an object, got an array",
                assertThrows(InvalidSpecException.class, () -> parse(deep)).getMessage());
        assertEquals("/process/args/0",
                assertThrows(InvalidSpecException.class, () -> parse("{\"process\": {\"args\": " + deep + "}}")).pointer());
    }

    @Test
    void deeplyNestedObjectsInAnUnknownFieldAreAnError() {
        String deep = "{\"a\": ".repeat(10_000) + "1" + "}".repeat(10_000);

        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> parse("{\"x\": " + deep + "}"));

        assertEquals("/x: document is nested deeper than 200 levels", e.getMessage());
    }

    @Test
    void loadProcessReadsAProcessFileWithPointersRelativeToIt() throws IOException {
        Path good = Files.writeString(dir.resolve("process.json"), """
                {"terminal": false, "args": ["/bin/true"], "cwd": "/", "execCPUAffinity": {"initial": "0"}}
                """);
        Path bad = Files.writeString(dir.resolve("bad.json"), "{\"args\": [\"ls\", 7], \"cwd\": \"/\"}");

        ProcessSpec process = SpecLoader.loadProcess(good);
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> SpecLoader.loadProcess(bad));

        assertEquals(List.of("/bin/true"), process.args());
        assertEquals("0", process.execCPUAffinity().initial());
        assertEquals("/args/1", e.pointer());
    }

    @Test
    void missingProcessFileIsNotFound() {
        Path missing = dir.resolve("process.json");

        NotFoundException e = assertThrows(NotFoundException.class, () -> SpecLoader.loadProcess(missing));

        assertEquals("process file " + missing + " does not exist", e.getMessage());
    }

    @Test
    void invalidSpecFromAFileCarriesThePointer() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{\"ociVersion\": \"1.2.1\", \"hostname\": 42}");

        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> SpecLoader.load(dir));

        assertEquals("/hostname", e.pointer());
        assertEquals("/hostname: expected a string, got an integer", e.getMessage());
    }

    private static Spec parse(String json) {
        return SpecLoader.parse(json.getBytes(StandardCharsets.UTF_8));
    }

    /** Found by SpecFuzzTest (seed 1458550357985191826): a "]" where an object must close. */
    @Test
    void aMismatchedCloseSaysWhereWithoutJacksonsInternals() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> SpecLoader.parse(
                "{\"ociVersion\":\"1.2.1\",\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\"]}}"
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("malformed json at line 1"), e.getMessage());
        assertOneShortLine(e);
    }

    private static void assertOneShortLine(Exception e) {
        String message = e.getMessage();
        assertEquals(-1, message.indexOf('\n'), message);
        assertTrue(message.length() < 200, message);
        assertFalse(message.contains("com.fasterxml") || message.contains("Source:"), message);
    }
}
