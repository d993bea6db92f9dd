package dev.capsa.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class DefaultSpecTest {
    @Test
    void exampleIsWhatRuncSpecWritesWithCapsasVersionAndHostname() throws IOException {
        String expected = new String(SpecRoundTripTest.resource("runc-example.json"), StandardCharsets.UTF_8);

        assertEquals(expected, Json.pretty(DefaultSpec.example(false)));
    }

    @Test
    void cgroupNamespaceIsAddedLast() {
        List<String> types = namespaceTypes(DefaultSpec.example(true));

        assertEquals(List.of("pid", "network", "ipc", "uts", "mount", "cgroup"), types);
        assertEquals(List.of("pid", "network", "ipc", "uts", "mount"), namespaceTypes(DefaultSpec.example(false)));
    }

    @Test
    void rootlessDropsNetworkAddsUserAndMapsTheCaller() throws IOException {
        Spec rootless = DefaultSpec.rootless(DefaultSpec.example(true), 1000, 1001);
        JsonNode written = Json.mapper().readTree(Json.pretty(rootless));

        assertEquals(List.of("pid", "ipc", "uts", "mount", "cgroup", "user"), namespaceTypes(rootless));
        assertEquals(Json.mapper().readTree("[{\"containerID\": 0, \"hostID\": 1000, \"size\": 1}]"),
                written.at("/linux/uidMappings"));
        assertEquals(Json.mapper().readTree("[{\"containerID\": 0, \"hostID\": 1001, \"size\": 1}]"),
                written.at("/linux/gidMappings"));
        assertFalse(written.get("linux").has("resources"));
        assertNull(rootless.linux().resources());
        // what rootless does not touch stays
        assertEquals(DefaultSpec.example(true).linux().maskedPaths(), rootless.linux().maskedPaths());
        assertEquals(DefaultSpec.example(true).process(), rootless.process());
    }

    @Test
    void rootlessBindsSysAndStripsIdOptions() throws IOException {
        Spec rootless = DefaultSpec.rootless(DefaultSpec.example(false), 1000, 1000);
        JsonNode mounts = Json.mapper().readTree(Json.pretty(rootless)).get("mounts");

        assertEquals(7, mounts.size());
        assertEquals(Json.mapper().readTree("""
                {"destination": "/sys", "type": "none", "source": "/sys",
                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
                """), mounts.get(5));
        assertEquals(List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"),
                rootless.mounts().get(2).options());
        // /proc had no options and still has none, rather than an empty list
        assertFalse(mounts.get(0).has("options"));
        assertEquals(DefaultSpec.example(false).mounts().get(6), rootless.mounts().get(6));
    }

    @Test
    void rootlessOfASpecWithAUserNamespaceKeepsOnlyOne() {
        Spec once = DefaultSpec.rootless(DefaultSpec.example(false), 1000, 1000);

        Spec twice = DefaultSpec.rootless(once, 2000, 2000);

        assertEquals(List.of("pid", "ipc", "uts", "mount", "user"), namespaceTypes(twice));
        assertEquals(2000L, twice.linux().uidMappings().get(0).hostID());
    }

    @Test
    void rootlessLeavesItsInputAlone() {
        Spec example = DefaultSpec.example(false);

        DefaultSpec.rootless(example, 1000, 1000);

        assertEquals(DefaultSpec.example(false), example);
    }

    private static List<String> namespaceTypes(Spec spec) {
        return spec.linux().namespaces().stream().map(Linux.Namespace::type).toList();
    }
}
