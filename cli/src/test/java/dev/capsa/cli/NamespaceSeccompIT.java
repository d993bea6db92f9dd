package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The ns backend's seccomp as a runc user meets it, as root, in busybox containers: a filter that
 * makes mkdir fail with the configured errno, podman's default profile (the real one from
 * containers-common), exec'd processes filtered too, and a bad profile refused by pointer with
 * nothing left behind.
 */
@Tag("integration")
class NamespaceSeccompIT extends BusyboxBundle {
    private static final Path PODMAN_PROFILE = Path.of("/usr/share/containers/seccomp.json");
    private static final List<String> APPLETS = List.of("sh", "echo", "cat", "grep", "mkdir", "mount", "sleep",
            "true", "ls", "swapon");

    NamespaceSeccompIT() {
        super(APPLETS, true);
    }

    @Override
    void assumeHost() {
        super.assumeHost();
        assumeTrue(Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libseccomp.so.2"))
                        || Files.exists(Path.of("/usr/lib64/libseccomp.so.2")),
                "no libseccomp.so.2 (Debian: apt-get install libseccomp2)");
    }

    @BeforeEach
    void tmpfs() throws Exception {
        Files.createDirectories(bundle.resolve("rootfs/tmp"));
        // a writable /tmp, so that a failing mkdir there is the filter's doing and nothing else's
        config(json -> ((ArrayNode) json.get("mounts")).addObject().put("destination", "/tmp").put("type", "tmpfs")
                .put("source", "tmpfs").putArray("options").add("nosuid").add("nodev"));
    }

    private void seccomp(JsonNode profile) throws IOException {
        config(json -> ((ObjectNode) json.get("linux")).set("seccomp", profile));
    }

    /** defaultAction ALLOW; mkdir and mkdirat fail with {@code errno}. */
    private static ObjectNode mkdirFails(int errno) {
        ObjectNode s = Json.mapper().createObjectNode();
        s.put("defaultAction", "SCMP_ACT_ALLOW");
        s.putArray("architectures").add("SCMP_ARCH_X86_64").add("SCMP_ARCH_X86").add("SCMP_ARCH_X32");
        ObjectNode rule = s.putArray("syscalls").addObject();
        rule.putArray("names").add("mkdir").add("mkdirat");
        rule.put("action", "SCMP_ACT_ERRNO").put("errnoRet", errno);
        return s;
    }

    private static final String PROBE = "grep Seccomp: /proc/self/status; echo ok; mkdir /tmp/x; echo rc=$?";

    @Test
    void withoutAFilterMkdirWorks() throws Exception {
        args("sh", "-c", PROBE);
        Result r = capsa("run", id("none"));
        assertEquals(0, r.code(), r.err());
        assertEquals("Seccomp:\t0\nok\nrc=0\n", r.out());
    }

    @Test
    void mkdirFailsWithTheConfiguredErrnoAndTheRestWorks() throws Exception {
        // noNewPrivileges false: the filter goes in before the capabilities are dropped (runc's order)
        config(json -> ((ObjectNode) json.get("process")).put("noNewPrivileges", false));
        seccomp(mkdirFails(1));
        args("sh", "-c", PROBE);
        Result eperm = capsa("run", id("eperm"));
        assertEquals(0, eperm.code(), eperm.err());
        assertEquals("Seccomp:\t2\nok\nrc=1\n", eperm.out());
        assertTrue(eperm.err().contains("Operation not permitted"), eperm.err());

        // noNewPrivileges true: the filter goes in last, just before the exec fifo and execve
        config(json -> ((ObjectNode) json.get("process")).put("noNewPrivileges", true));
        seccomp(mkdirFails(38));
        Result enosys = capsa("run", id("enosys"));
        assertEquals(0, enosys.code(), enosys.err());
        assertEquals("Seccomp:\t2\nok\nrc=1\n", enosys.out());
        assertTrue(enosys.err().contains("Function not implemented"), enosys.err());
    }

    @Test
    void podmansDefaultProfileRunsBusyboxAndBlocksSwapon() throws Exception {
        assumeTrue(Files.exists(PODMAN_PROFILE), "no " + PODMAN_PROFILE + " (Debian: apt-get install containers-common)");
        assumeTrue(System.getProperty("os.arch").equals("amd64"), "the profile is converted for amd64 only here");
        // CAP_SYS_ADMIN, so that the kernel itself lets swapon through to its file checks (ETXTBSY: the
        // shell runs busybox); the profile refuses swapon whatever the capabilities, with EPERM
        config(json -> {
            for (String set : List.of("bounding", "effective", "permitted")) {
                ((ArrayNode) json.at("/process/capabilities/" + set)).add("CAP_SYS_ADMIN");
            }
        });
        args("sh", "-c", "grep Seccomp: /proc/self/status; echo ok; swapon /bin/busybox; echo rc=$?");
        Result control = capsa("run", id("unfiltered"));
        assertEquals(0, control.code(), control.err());
        assertEquals("Seccomp:\t0\nok\nrc=1\n", control.out());
        assertTrue(control.err().contains("Text file busy"), control.err());

        JsonNode spec = Json.mapper().readTree(bundle.resolve("config.json").toFile());
        Set<String> caps = new HashSet<>();
        spec.at("/process/capabilities/bounding").forEach(c -> caps.add(c.asText()));
        seccomp(ociProfile(Json.mapper().readTree(PODMAN_PROFILE.toFile()), caps, "amd64", "SCMP_ARCH_X86_64"));
        Result r = capsa("run", id("podman"));
        assertEquals(0, r.code(), r.err());
        assertEquals("Seccomp:\t2\nok\nrc=1\n", r.out());
        assertTrue(r.err().contains("Operation not permitted"), r.err());
    }

    @Test
    void execdProcessesAreFilteredToo() throws Exception {
        seccomp(mkdirFails(1));
        args("sleep", "600");
        String id = id("exec");
        Result run = capsa("run", "--detach", id);
        assertEquals(0, run.code(), run.err());
        Result status = capsa("exec", id, "grep", "Seccomp:", "/proc/self/status");
        assertEquals(0, status.code(), status.err());
        assertEquals("Seccomp:\t2\n", status.out());
        Result mkdir = capsa("exec", id, "mkdir", "/tmp/y");
        assertEquals(1, mkdir.code(), mkdir.err());
        assertTrue(mkdir.err().contains("Operation not permitted"), mkdir.err());
        Result ls = capsa("exec", id, "ls", "/tmp");
        assertEquals(0, ls.code(), ls.err());
        assertEquals("", ls.out());
    }

    @Test
    void anUnknownActionIsRefusedByPointerAndNothingIsLeft() throws Exception {
        ObjectNode profile = mkdirFails(1);
        ((ObjectNode) profile.at("/syscalls/0")).put("action", "SCMP_ACT_FOO");
        seccomp(profile);
        args("true");
        Result create = capsa("create", id("bad"));
        assertEquals(1, create.code(), create.err());
        assertTrue(create.err().contains("/linux/seccomp/syscalls/0/action: unknown action \"SCMP_ACT_FOO\""),
                create.err());
        Result list = capsa("list", "--format", "json");
        assertEquals(0, list.code(), list.err());
        assertEquals("[]", list.out().strip());
    }

    @Test
    void anUnknownSyscallToBlockIsRefusedByPointerAndNothingIsLeft() throws Exception {
        ObjectNode profile = mkdirFails(1);
        ((ArrayNode) profile.at("/syscalls/0/names")).add("mkdri");
        seccomp(profile);
        args("true");
        Result create = capsa("create", id("typo"));
        assertEquals(1, create.code(), create.err());
        assertTrue(create.err().contains("/linux/seccomp/syscalls/0/names/2: unknown syscall \"mkdri\""),
                create.err());
        Result list = capsa("list", "--format", "json");
        assertEquals(0, list.code(), list.err());
        assertEquals("[]", list.out().strip());
    }

    @Test
    void featuresReportSeccomp() throws Exception {
        Result r = capsa("features");
        assertEquals(0, r.code(), r.err());
        JsonNode seccomp = Json.mapper().readTree(r.out()).at("/linux/seccomp");
        assertTrue(seccomp.get("enabled").asBoolean(), r.out());
        List<String> archs = new ArrayList<>();
        seccomp.get("archs").forEach(a -> archs.add(a.asText()));
        assertTrue(archs.containsAll(List.of("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32")), r.out());
    }

    /**
     * What podman does with its Docker-format profile before it calls the runtime
     * (containers/common's seccomp.setupSeccomp): the architectures of archMap for this one, and the
     * rules whose includes (caps all in the bounding set, this arch) and excludes hold.
     */
    static ObjectNode ociProfile(JsonNode docker, Set<String> caps, String goArch, String ociArch) {
        ObjectNode oci = Json.mapper().createObjectNode();
        oci.put("defaultAction", docker.get("defaultAction").asText());
        if (docker.hasNonNull("defaultErrnoRet")) {
            oci.put("defaultErrnoRet", docker.get("defaultErrnoRet").asLong());
        }
        ArrayNode archs = oci.putArray("architectures");
        for (JsonNode m : docker.path("archMap")) {
            if (m.get("architecture").asText().equals(ociArch)) {
                archs.add(ociArch);
                m.path("subArchitectures").forEach(archs::add);
            }
        }
        ArrayNode syscalls = oci.putArray("syscalls");
        for (JsonNode call : docker.get("syscalls")) {
            if (!holds(call.path("includes"), caps, goArch, true) || !holds(call.path("excludes"), caps, goArch, false)) {
                continue;
            }
            ObjectNode rule = syscalls.addObject();
            rule.set("names", call.get("names"));
            rule.put("action", call.get("action").asText());
            if (call.hasNonNull("errnoRet")) {
                rule.put("errnoRet", call.get("errnoRet").asLong());
            }
            ArrayNode args = rule.putArray("args");
            for (JsonNode a : call.path("args")) {
                args.addObject().put("index", a.get("index").asLong()).put("value", a.get("value").asLong())
                        .put("valueTwo", a.path("valueTwo").asLong()).put("op", a.get("op").asText());
            }
        }
        return oci;
    }

    /** includes: every cap present and this arch listed (when given); excludes: none present, arch not listed. */
    private static boolean holds(JsonNode filter, Set<String> caps, String goArch, boolean include) {
        for (JsonNode c : filter.path("caps")) {
            if (caps.contains(c.asText()) != include) {
                return false;
            }
        }
        JsonNode arches = filter.path("arches");
        if (arches.isArray() && !arches.isEmpty()) {
            boolean listed = false;
            for (JsonNode a : arches) {
                listed |= a.asText().equals(goArch);
            }
            return listed == include;
        }
        return true;
    }
}
