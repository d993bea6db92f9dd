package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.cli.LauncherIT.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Bundles whose image tries to make the runtime act on the host: symlinks in the rootfs at a mount
 * destination, at /dev/null, at the cwd, at masked and read-only paths, and a cwd through
 * /proc/self/fd (CVE-2024-21626). Each points at {@code <test dir>/outside}, a host directory
 * outside the rootfs. Each case checks that the host directory is byte for byte and stat for stat
 * what it was, that no mount of it appears on the host, and that the container either failed with
 * an error naming the path or ran contained (it cannot reach the host's files). The case count is
 * in docs/reliability.md.
 */
@Tag("integration")
class HostileBundleIT extends BusyboxBundle {
    private static final List<String> APPLETS = List.of("sh", "echo", "cat", "ls", "test", "touch", "readlink",
            "true", "sleep", "wc", "stat", "pwd");

    /** The host directory every hostile symlink points at. */
    private Path outside;
    /** A file that exists on the host only: a container that sees it has escaped. */
    private Path sentinel;

    HostileBundleIT() {
        super(APPLETS, true);
    }

    @BeforeEach
    void hostTarget() throws IOException {
        outside = Files.createDirectories(tmp.resolve("outside"));
        Files.writeString(outside.resolve("secret"), "host data\n");
        Files.createDirectories(outside.resolve("sub"));
        sentinel = Files.writeString(tmp.resolve("host-sentinel"), "only on the host\n");
        config(json -> ((ObjectNode) json.get("root")).put("readonly", false));
    }

    /** Every file and directory under {@code dir}: type, size, mode, times, owner and content digest. */
    private static Map<String, String> snapshot(Path dir) throws Exception {
        Map<String, String> all = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.toList()) {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                String digest = a.isRegularFile()
                        ? HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)))
                        : "";
                all.put(dir.relativize(p).toString(), a.fileKey() + " " + a.size() + " " + a.lastModifiedTime()
                        + " " + Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS)
                        + " " + Files.getAttribute(p, "unix:ctime", LinkOption.NOFOLLOW_LINKS) + " " + digest);
            }
        }
        return all;
    }

    /** Runs the container; afterwards the host target is what it was, not mounted, and still writable. */
    private Result runAndCheckHost(String id, String... args) throws Exception {
        Map<String, String> before = snapshot(outside);
        String sentinelBefore = Files.readString(sentinel);
        Result r = capsa(args.length == 0 ? new String[] {"run", id(id)} : args);
        assertEquals(before, snapshot(outside), "the container changed the host directory " + outside + "\n" + r);
        assertEquals(sentinelBefore, Files.readString(sentinel));
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(outside.toString()),
                "a mount of " + outside + " appeared on the host");
        // a read-only remount that reached the host would show here
        Path probe = Files.writeString(outside.resolve("probe"), "x");
        Files.delete(probe);
        return r;
    }

    /** Either it ran (exit 0) or failed with exit 1 and an error naming {@code path}. */
    private static boolean ranOrRefused(Result r, String path) {
        if (r.code() == 0) {
            return true;
        }
        assertEquals(1, r.code(), r.toString());
        assertTrue(r.err().contains(path), "the error does not name " + path + ": " + r.err());
        return false;
    }

    /** A shell line that climbs far up from the cwd and says whether the host-only file is there. */
    private String escapeProbe() {
        return "cd " + "../".repeat(40) + " && test -e ." + sentinel + " && echo ESCAPED; "
                + "test -e " + sentinel + " && echo ESCAPED; true";
    }

    // ---- mount destinations

    @Test
    void aBindMountOntoASymlinkToTheHostLandsInsideTheRootfs() throws Exception {
        // NamespaceBackendIT.aSymlinkOutOfTheRootfsDoesNotMountOnTheHost does this for a tmpfs
        Path source = Files.createDirectories(tmp.resolve("bind-source"));
        Files.writeString(source.resolve("from-source"), "bound\n");
        Files.createSymbolicLink(bundle.resolve("rootfs/evil"), outside);
        config(json -> ((ArrayNode) json.get("mounts")).addObject().put("destination", "/evil").put("type", "bind")
                .put("source", source.toString()).putArray("options").add("rbind").add("rw"));
        args("sh", "-c", "cat /evil/from-source && touch /evil/written-inside");

        Result r = runAndCheckHost("bind-evil");

        assertEquals(0, r.code(), r.err());
        assertEquals("bound\n", r.out());
        // the write went through the bind into its source, the symlink resolved inside the rootfs
        assertTrue(Files.exists(source.resolve("written-inside")));
        assertTrue(Files.isDirectory(bundle.resolve("rootfs").resolve(outside.toString().substring(1))));
    }

    // ---- /dev

    @Test
    void aDevNullSymlinkInTheImageIsReplacedByTheDevice() throws Exception {
        Files.createDirectories(bundle.resolve("rootfs/dev"));
        Files.createSymbolicLink(bundle.resolve("rootfs/dev/null"), outside.resolve("secret"));
        Files.createSymbolicLink(bundle.resolve("rootfs/dev/zero"), outside.resolve("sub"));
        // no tmpfs on /dev: the image's /dev is the one the runtime fills
        config(json -> {
            ArrayNode mounts = (ArrayNode) json.get("mounts");
            for (Iterator<JsonNode> it = mounts.iterator(); it.hasNext(); ) {
                if (it.next().get("destination").asText().startsWith("/dev")) {
                    it.remove();
                }
            }
        });
        args("sh", "-c", "test -c /dev/null && test -c /dev/zero && echo devices; echo junk > /dev/null; "
                + "wc -c < /dev/null");

        Result r = runAndCheckHost("dev-null");

        assertEquals(0, r.code(), r.err());
        assertEquals("devices\n0\n", r.out());
    }

    @Test
    void aDevTmpfsOverASymlinkedDevStaysInside() throws Exception {
        Files.createSymbolicLink(bundle.resolve("rootfs/dev"), outside);
        args("sh", "-c", "test -c /dev/null && echo devices; echo junk > /dev/null");

        Result r = runAndCheckHost("dev-link");

        assertEquals(0, r.code(), r.err());
        assertEquals("devices\n", r.out());
    }

    // ---- the cwd

    @Test
    void aCwdSymlinkOutOfTheRootfsStaysInside() throws Exception {
        Files.createSymbolicLink(bundle.resolve("rootfs/work"), outside);
        config(json -> ((ObjectNode) json.get("process")).put("cwd", "/work"));
        args("sh", "-c", "touch made-here; test -e secret && echo SEES-HOST-FILE; " + escapeProbe());

        Result r = runAndCheckHost("cwd-link");

        if (ranOrRefused(r, "/work")) {
            assertEquals("", r.out());
        }
    }

    @Test
    void aCwdThroughProcSelfFdNeverReachesAHostDirectory() throws Exception {
        // CVE-2024-21626: a descriptor of a host directory left open in the runtime becomes the cwd
        int ran = 0;
        for (int fd = 3; fd <= 10; fd++) {
            String cwd = "/proc/self/fd/" + fd;
            config(json -> ((ObjectNode) json.get("process")).put("cwd", cwd));
            args("sh", "-c", escapeProbe());

            Result r = runAndCheckHost("cwd-fd" + fd);

            if (ranOrRefused(r, cwd)) {
                ran++;
                assertEquals("", r.out(), "cwd " + cwd);
            } else if (fd == 3) {
                System.out.println("HostileBundleIT: cwd " + cwd + ": " + r.err().strip());
            }
        }
        System.out.println("HostileBundleIT: cwd /proc/self/fd/3..10: " + ran + " ran contained, " + (8 - ran)
                + " refused");
    }

    @Test
    void execWithACwdThroughProcSelfFdNeverReachesAHostDirectory() throws Exception {
        args("sleep", "60");
        Result run = capsa("run", "--detach", id("exec-cwd"));
        assertEquals(0, run.code(), run.err());
        int ran = 0;
        for (int fd = 3; fd <= 10; fd++) {
            String cwd = "/proc/self/fd/" + fd;

            Result r = runAndCheckHost(null, "exec", "--cwd", cwd, "exec-cwd", "--", "sh", "-c", escapeProbe());

            if (ranOrRefused(r, cwd)) {
                ran++;
                assertEquals("", r.out(), "exec --cwd " + cwd);
            }
        }
        System.out.println("HostileBundleIT: exec --cwd /proc/self/fd/3..10: " + ran + " ran contained, "
                + (8 - ran) + " refused");
    }

    // ---- masked and read-only paths

    private void addPaths(String field, String... paths) {
        try {
            config(json -> {
                ArrayNode list = (ArrayNode) json.get("linux").get(field);
                for (String p : paths) {
                    list.add(p);
                }
            });
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void maskedPathsThatAreSymlinksToTheHostMaskNothingThere() throws Exception {
        Files.createSymbolicLink(bundle.resolve("rootfs/masked-file"), outside.resolve("secret"));
        Files.createSymbolicLink(bundle.resolve("rootfs/masked-dir"), outside);
        addPaths("maskedPaths", "/masked-file", "/masked-dir");
        args("sh", "-c", "cat /masked-file; ls /masked-dir; true");

        Result r = runAndCheckHost("masked-link");

        // resolved inside the rootfs, where the targets do not exist: nothing to mask, nothing shown
        if (ranOrRefused(r, "/masked-")) {
            assertFalse(r.out().contains("host data"), r.out());
        }
    }

    @Test
    void readonlyPathsThatAreSymlinksToTheHostLeaveTheHostWritable() throws Exception {
        Files.createSymbolicLink(bundle.resolve("rootfs/ro-dir"), outside);
        Files.createSymbolicLink(bundle.resolve("rootfs/ro-file"), outside.resolve("secret"));
        addPaths("readonlyPaths", "/ro-dir", "/ro-file");
        args("sh", "-c", "ls /ro-dir; cat /ro-file; true");

        Result r = runAndCheckHost("ro-link");

        if (ranOrRefused(r, "/ro-")) {
            assertFalse(r.out().contains("host data"), r.out());
        }
    }

    @Test
    void maskedAndReadonlyPathsThroughProcMagicLinksCannotReachTheHost() throws Exception {
        // /proc/self/fd/N at the time of masking is a descriptor of the runtime's (the exec fifo in the
        // state directory, the control socket): a mask or bind there must never land on the host's file
        args("true");
        int refused = 0;
        String example = "";
        for (String field : List.of("maskedPaths", "readonlyPaths")) {
            for (int fd = 3; fd <= 10; fd++) {
                String link = "/magic-" + field + "-" + fd;
                Files.createSymbolicLink(bundle.resolve("rootfs").resolve(link.substring(1)),
                        Path.of("/proc/self/fd/" + fd));
                addPaths(field, link);

                Result r = runAndCheckHost(field.substring(0, 2) + "-magic-" + fd);

                if (!ranOrRefused(r, link)) {
                    refused++;
                    example = r.err().strip();
                }
                config(json -> {
                    ArrayNode list = (ArrayNode) json.get("linux").get(field);
                    list.remove(list.size() - 1);
                });
                // nothing was mounted on the state directory (where the exec fifo was) or anywhere under the test's
                assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(tmp.toString()), link);
            }
        }
        System.out.println("HostileBundleIT: masked/read-only paths through /proc/self/fd/3..10: " + refused
                + " of 16 refused (" + example + ")");
    }
}
