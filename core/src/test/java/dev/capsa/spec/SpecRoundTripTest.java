package dev.capsa.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.RecordComponent;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class SpecRoundTripTest {
    private static final BigInteger UINT64_MAX = new BigInteger("18446744073709551615");

    static byte[] resource(String name) throws IOException {
        try (InputStream in = SpecRoundTripTest.class.getResourceAsStream("/spec/" + name)) {
            if (in == null) {
                throw new IOException("test resource /spec/" + name + " is missing");
            }
            return in.readAllBytes();
        }
    }

    @Test
    void fullConfigSurvivesLoadAndSaveUnchanged() throws IOException {
        byte[] original = resource("full-config.json");

        String written = SpecLoader.toJson(SpecLoader.parse(original));

        assertEquals(Json.mapper().readTree(original), Json.mapper().readTree(written));
        // and the written form is a fixed point
        assertEquals(written, SpecLoader.toJson(SpecLoader.parse(written.getBytes(StandardCharsets.UTF_8))));
    }

    @Test
    void everyFieldOfTheSpecLandsInATypedComponentAndOnlyUnknownOnesInExtra() throws Exception {
        Spec spec = SpecLoader.parse(resource("full-config.json"));

        // a misspelt component would leave its field here too, and the round trip alone would not notice
        Set<String> extras = new TreeSet<>();
        collectExtras(spec, "", extras);

        assertEquals(Set.of("/x-top-level", "/freebsd", "/process/x-process-extra", "/mounts/1/x-mount-extra",
                "/hooks/createRuntime/0/x-hook-extra", "/linux/resources/memory/x-memory-extra"), extras);
    }

    @Test
    void typedValuesAreReadWithTheSpecNumberTypes() throws IOException {
        Spec spec = SpecLoader.parse(resource("full-config.json"));

        ProcessSpec process = spec.process();
        assertEquals(UINT64_MAX, process.rlimits().get(0).hard());
        assertEquals(BigInteger.valueOf(1024), process.rlimits().get(0).soft());
        assertEquals(List.of(5L, 6L), process.user().additionalGids());
        assertEquals(-1000, process.oomScoreAdj());
        assertEquals("IOPRIO_CLASS_BE", process.ioPriority().ioClass());
        assertEquals("4-6", process.execCPUAffinity().finalCpus());
        assertEquals(UINT64_MAX, process.scheduler().runtime());
        assertEquals(-1L, spec.linux().resources().memory().swap());
        assertEquals(UINT64_MAX, spec.linux().resources().blockIO().throttleWriteBpsDevice().get(0).rate());
        assertEquals(UINT64_MAX, spec.linux().seccomp().syscalls().get(0).args().get(0).value());
        assertEquals(Long.MIN_VALUE, spec.linux().timeOffsets().get("monotonic").secs());
        assertEquals(4294967295L, spec.linux().timeOffsets().get("monotonic").nanosecs());
        assertEquals("ctr_eth1", spec.linux().netDevices().get("eth1").name());
        assertNull(spec.linux().netDevices().get("eth2").name());
        assertEquals(5, spec.hooks().createRuntime().get(0).timeout());
        assertEquals(List.of(), spec.mounts().get(2).options());
        assertEquals("qcow2", spec.vm().at("/image/format").asText());
    }

    @Test
    void uint64MaximumIsWrittenDigitForDigit() {
        String json = """
                {"ociVersion": "1.2.1", "process": {"cwd": "/", "args": ["sh"],
                 "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 18446744073709551615, "soft": 18446744073709551615}]}}
                """;

        Spec spec = SpecLoader.parse(json.getBytes(StandardCharsets.UTF_8));
        String written = SpecLoader.toJson(spec);

        assertEquals(UINT64_MAX, spec.process().rlimits().get(0).hard());
        assertTrue(written.contains("\"hard\": 18446744073709551615,"), written);
        assertTrue(written.contains("\"soft\": 18446744073709551615\n"), written);
        // as a long, the same bits are RLIM_INFINITY for setrlimit(2)
        assertEquals(-1L, spec.process().rlimits().get(0).hard().longValue());
    }

    @Test
    void absentFieldsStayAbsentAndPresentEmptyOnesStayPresent() throws IOException {
        String json = """
                {"ociVersion": "1.2.1", "process": {"cwd": "/", "args": ["sh"], "env": []}, "annotations": {}}
                """;

        JsonNode written = Json.mapper().readTree(SpecLoader.toJson(SpecLoader.parse(json.getBytes(StandardCharsets.UTF_8))));

        assertEquals(Json.mapper().readTree(json), written);
        assertFalse(written.has("root"));
        assertFalse(written.get("process").has("terminal"));
        assertTrue(written.get("process").get("env").isArray());
    }

    @Test
    void prettyWritesLikeRuncSpecWithTabsAndEmptyContainersClosed() {
        Spec spec = new Spec("1.2.1", null, new Root("rootfs", true), null, null, List.of(), null, Map.of(), null,
                null, null, null, null, null);

        assertEquals("""
                {
                \t"ociVersion": "1.2.1",
                \t"root": {
                \t\t"path": "rootfs",
                \t\t"readonly": true
                \t},
                \t"mounts": [],
                \t"annotations": {}
                }
                """, Json.pretty(spec));
    }

    @Test
    void recordsCannotBeChangedThroughTheirLists() throws IOException {
        Spec spec = SpecLoader.parse(resource("full-config.json"));

        assertThrows(UnsupportedOperationException.class, () -> spec.mounts().clear());
        assertThrows(UnsupportedOperationException.class, () -> spec.process().args().add("x"));
        assertThrows(UnsupportedOperationException.class, () -> spec.extra().clear());
    }

    @Test
    void hooksOfAPhaseAreEmptyWhenUnsetAndUnknownPhasesAreRejected() throws IOException {
        Spec spec = SpecLoader.parse(resource("full-config.json"));
        Hooks onlyPoststop = new Hooks(null, null, null, null, null, List.of(new Hook("/bin/true", null, null, null)), null);

        assertEquals("/usr/bin/setup-network", spec.hooks().of("createRuntime").get(0).path());
        assertEquals(List.of(), onlyPoststop.of("prestart"));
        assertEquals(1, onlyPoststop.of("poststop").size());
        assertThrows(IllegalArgumentException.class, () -> onlyPoststop.of("prestop"));
    }

    @Test
    void annotationLooksUpOneKey() throws IOException {
        Spec spec = SpecLoader.parse(resource("full-config.json"));

        assertEquals("value1", spec.annotation("com.example.key1").orElseThrow());
        assertTrue(spec.annotation("com.example.none").isEmpty());
        assertTrue(DefaultSpec.example(false).annotation("any").isEmpty());
    }

    @SuppressWarnings("unchecked")
    private static void collectExtras(Object value, String pointer, Set<String> found) throws Exception {
        if (value instanceof Record record) {
            for (RecordComponent component : record.getClass().getRecordComponents()) {
                Object child = component.getAccessor().invoke(record);
                if (component.getName().equals("extra")) {
                    ((Map<String, JsonNode>) child).keySet().forEach(name -> found.add(pointer + "/" + name));
                    continue;
                }
                JsonProperty renamed = component.getAccessor().getAnnotation(JsonProperty.class);
                collectExtras(child, pointer + "/" + (renamed != null ? renamed.value() : component.getName()), found);
            }
        } else if (value instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                collectExtras(list.get(i), pointer + "/" + i, found);
            }
        } else if (value instanceof Map<?, ?> map) {
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                collectExtras(entry.getValue(), pointer + "/" + SpecLoader.escape((String) entry.getKey()), found);
            }
        }
    }
}
