package dev.capsa.spec;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.InvalidSpecException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SpecValidatorTest {
    @TempDir
    Path bundle;

    @BeforeEach
    void rootfs() throws IOException {
        Files.createDirectory(bundle.resolve("rootfs"));
    }

    @Test
    void runcExampleIsValid() {
        assertDoesNotThrow(() -> SpecValidator.validate(DefaultSpec.example(true), bundle));
        assertDoesNotThrow(() -> SpecValidator.validate(DefaultSpec.rootless(DefaultSpec.example(true), 1000, 1000), bundle));
    }

    @Test
    void fullFixtureIsValid() throws IOException {
        Spec spec = SpecLoader.parse(SpecRoundTripTest.resource("full-config.json"));

        assertDoesNotThrow(() -> SpecValidator.validate(spec, bundle));
    }

    @Test
    void missingOciVersion() {
        assertInvalid("/ociVersion", "missing required field", spec -> spec.remove("ociVersion"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"1.0.0", "1.0.2", "1.0.2-dev", "1.1.0-rc.1", "1.1.0", "1.2.0", "1.2.1", "1.2.99+build.5"})
    void supportedVersions(String version) {
        assertDoesNotThrow(() -> SpecValidator.validate(spec(s -> s.put("ociVersion", version)), bundle));
    }

    @ParameterizedTest
    @ValueSource(strings = {"2.0.0", "1.3.0", "0.9.0", "1.0.0-rc5", "1.2", "v1.2.1", "01.2.1", "latest"})
    void unsupportedVersionsSayWhichRangeIsSupported(String version) {
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> SpecValidator.validate(spec(s -> s.put("ociVersion", version)), bundle));

        assertEquals("/ociVersion", e.pointer());
        assertTrue(e.getMessage().contains("\"" + version + "\"") && e.getMessage().endsWith("capsa supports 1.0.0 to 1.2.x"),
                e.getMessage());
    }

    @Test
    void processIsOptional() {
        assertDoesNotThrow(() -> SpecValidator.validate(spec(s -> s.remove("process")), bundle));
    }

    @Test
    void processArgsMustNotBeEmpty() {
        assertInvalid("/process/args", "must have at least one entry", s -> process(s).putArray("args"));
        assertInvalid("/process/args", "must have at least one entry", s -> process(s).remove("args"));
    }

    @Test
    void processCwdMustBeAbsolute() {
        assertInvalid("/process/cwd", "must be an absolute path, got \"home\"", s -> process(s).put("cwd", "home"));
        assertInvalid("/process/cwd", "missing required field", s -> process(s).remove("cwd"));
    }

    @Test
    void rlimitSoftAboveHard() {
        assertInvalid("/process/rlimits/0", "soft limit 2048 is greater than hard limit 1024",
                s -> rlimit(s).put("soft", 2048));
    }

    @Test
    void rlimitTypeMustBeAnRlimitName() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> SpecValidator.validate(spec(s -> rlimit(s).put("type", "NOFILE")), bundle));

        assertEquals("/process/rlimits/0/type", e.pointer());
        assertTrue(e.getMessage().startsWith("/process/rlimits/0/type: unknown rlimit type \"NOFILE\""), e.getMessage());
    }

    @Test
    void rlimitOfUint64MaxIsValidAndANegativeOneIsNot() {
        assertDoesNotThrow(() -> SpecValidator.validate(spec(s -> rlimit(s)
                .put("hard", new java.math.BigInteger("18446744073709551615"))), bundle));
        assertInvalid("/process/rlimits/0/hard", "must be between 0 and 18446744073709551615, got -1",
                s -> rlimit(s).put("hard", -1));
    }

    @Test
    void rootIsRequired() {
        assertInvalid("/root", "missing required field", s -> s.remove("root"));
        assertInvalid("/root/path", "missing required field", s -> ((ObjectNode) s.get("root")).remove("path"));
    }

    @Test
    void rootPathIsResolvedAgainstTheBundleAndMustBeADirectory() throws IOException {
        Files.writeString(bundle.resolve("file"), "");

        assertInvalid("/root/path", "root filesystem " + bundle.resolve("nope") + " does not exist",
                s -> ((ObjectNode) s.get("root")).put("path", "nope"));
        assertInvalid("/root/path", "root filesystem " + bundle.resolve("file") + " is not a directory",
                s -> ((ObjectNode) s.get("root")).put("path", "file"));
        assertDoesNotThrow(() -> SpecValidator.validate(
                spec(s -> ((ObjectNode) s.get("root")).put("path", bundle.resolve("rootfs").toString())), bundle));
    }

    @Test
    void mountDestinationMustBeAbsolute() {
        assertInvalid("/mounts/3/destination", "must be an absolute path, got \"dev/shm\"",
                s -> ((ObjectNode) s.get("mounts").get(3)).put("destination", "dev/shm"));
    }

    @Test
    void idmappedMountNeedsBothMappings() {
        assertInvalid("/mounts/1/gidMappings", "missing, it must be set along with uidMappings",
                s -> ((ObjectNode) s.get("mounts").get(1)).putArray("uidMappings").add(mapping(0, 1000, 1)));
    }

    @Test
    void hookPathMustBeAbsolute() {
        assertInvalid("/hooks/poststart/0/path", "must be an absolute path, got \"notify\"",
                s -> hook(s, "poststart").put("path", "notify"));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1})
    void hookTimeoutMustBePositive(int timeout) {
        assertInvalid("/hooks/createRuntime/0/timeout", "must be greater than zero, got " + timeout,
                s -> hook(s, "createRuntime").put("timeout", timeout));
    }

    @Test
    void unknownNamespaceType() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> SpecValidator.validate(
                spec(s -> ((ObjectNode) s.at("/linux/namespaces/2")).put("type", "net")), bundle));

        assertEquals("/linux/namespaces/2/type", e.pointer());
        assertEquals("/linux/namespaces/2/type: unknown namespace type \"net\", expected one of "
                + "pid, network, mount, ipc, uts, user, cgroup, time", e.getMessage());
    }

    @Test
    void duplicateNamespaceType() {
        assertInvalid("/linux/namespaces/5/type", "duplicate namespace type \"pid\", already at /linux/namespaces/0",
                s -> namespaces(s).addObject().put("type", "pid"));
    }

    @Test
    void namespacePathMustBeAbsolute() {
        assertInvalid("/linux/namespaces/1/path", "must be an absolute path, got \"netns\"",
                s -> ((ObjectNode) s.at("/linux/namespaces/1")).put("path", "netns"));
    }

    @Test
    void mappingOfSizeZero() {
        assertInvalid("/linux/uidMappings/0", "size must be greater than zero, got 0", s -> {
            userNamespace(s);
            linux(s).putArray("uidMappings").add(mapping(0, 1000, 0));
        });
    }

    @Test
    void overlappingMappings() {
        assertInvalid("/linux/uidMappings/1", "container range 100-199 overlaps /linux/uidMappings/0", s -> {
            userNamespace(s);
            linux(s).putArray("uidMappings").add(mapping(0, 1000, 200)).add(mapping(100, 5000, 100));
        });
        assertInvalid("/linux/gidMappings/1", "host range 1000-1009 overlaps /linux/gidMappings/0", s -> {
            userNamespace(s);
            linux(s).putArray("gidMappings").add(mapping(0, 1000, 10)).add(mapping(10, 1000, 10));
        });
    }

    @Test
    void mappingBeyondUint32() {
        assertInvalid("/linux/uidMappings/0", "host range 4294967295-4294967296 is outside 0-4294967295", s -> {
            userNamespace(s);
            linux(s).putArray("uidMappings").add(mapping(0, 4294967295L, 2));
        });
    }

    @Test
    void mappingsWithoutAUserNamespace() {
        assertInvalid("/linux/uidMappings", "mappings need a user namespace, but /linux/namespaces has no \"user\" entry",
                s -> linux(s).putArray("uidMappings").add(mapping(0, 1000, 1)));
        assertInvalid("/linux/gidMappings", "mappings need a user namespace, but /linux/namespaces has no \"user\" entry",
                s -> linux(s).putArray("gidMappings").add(mapping(0, 1000, 1)));
    }

    @Test
    void firstProblemInDocumentOrderIsReported() {
        assertInvalid("/process/cwd", "must be an absolute path, got \"tmp\"", s -> {
            ((ObjectNode) s.at("/linux/namespaces/0")).put("type", "bogus");
            hook(s, "poststart").put("path", "relative");
            ((ObjectNode) s.get("mounts").get(0)).put("destination", "proc");
            process(s).put("cwd", "tmp");
        });
    }

    @Test
    void validateProcessPointsIntoTheProcessFile() {
        ProcessSpec process = DefaultSpec.example(false).process();
        ProcessSpec relative = SpecLoader.parse(("{\"process\": {\"args\": [\"sh\"], \"cwd\": \"x\"}}").getBytes()).process();

        assertDoesNotThrow(() -> SpecValidator.validateProcess(process));
        assertEquals("/cwd", assertThrows(InvalidSpecException.class, () -> SpecValidator.validateProcess(relative)).pointer());
    }

    private void assertInvalid(String pointer, String problem, Consumer<ObjectNode> change) {
        Spec spec = spec(change);

        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> SpecValidator.validate(spec, bundle));

        assertEquals(pointer, e.pointer());
        assertEquals(pointer + ": " + problem, e.getMessage());
    }

    /** runc's example with a poststart and a createRuntime hook, changed by {@code change}. */
    private static Spec spec(Consumer<ObjectNode> change) {
        ObjectNode tree = Json.mapper().valueToTree(DefaultSpec.example(false));
        ObjectNode hooks = tree.putObject("hooks");
        hooks.putArray("createRuntime").addObject().put("path", "/usr/bin/setup").put("timeout", 5);
        hooks.putArray("poststart").addObject().put("path", "/usr/bin/notify");
        change.accept(tree);
        try {
            return SpecLoader.parse(Json.mapper().writeValueAsBytes(tree));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static ObjectNode process(ObjectNode spec) {
        return (ObjectNode) spec.get("process");
    }

    private static ObjectNode rlimit(ObjectNode spec) {
        return (ObjectNode) spec.at("/process/rlimits/0");
    }

    private static ObjectNode hook(ObjectNode spec, String phase) {
        return (ObjectNode) spec.at("/hooks/" + phase + "/0");
    }

    private static ObjectNode linux(ObjectNode spec) {
        return (ObjectNode) spec.get("linux");
    }

    private static ArrayNode namespaces(ObjectNode spec) {
        return (ArrayNode) spec.at("/linux/namespaces");
    }

    private static void userNamespace(ObjectNode spec) {
        namespaces(spec).addObject().put("type", "user");
    }

    private static JsonNode mapping(long containerId, long hostId, long size) {
        return Json.mapper().createObjectNode().put("containerID", containerId).put("hostID", hostId).put("size", size);
    }
}
