package dev.capsa.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.BackendUnavailableException;
import dev.capsa.os.Signals;
import dev.capsa.spec.SpecLoader;
import dev.capsa.spi.Availability;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.Features;
import dev.capsa.state.Status;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the hello backend decides without running a container: no root, no chroot, no processes. */
class HelloBackendTest {
    @TempDir
    Path tmp;

    private Path tool(String name) throws Exception {
        return Files.createFile(tmp.resolve(name), PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwxr-xr-x")));
    }

    private FakeContext context(FakeOs os, String processJson) throws Exception {
        String config = "{\"ociVersion\": \"1.2.1\", \"root\": {\"path\": \"rootfs\"}, \"process\": "
                + processJson + "}";
        Path state = Files.createDirectories(tmp.resolve("state"));
        return new FakeContext(tmp, state, SpecLoader.parse(config.getBytes(StandardCharsets.UTF_8)), os);
    }

    @Test
    void featuresClaimTheHostHooksAndNoIsolation() {
        Features f = new HelloBackend(new FakeOs(0)).features();
        assertEquals("1.0.0", f.ociVersionMin());
        assertEquals("1.2.1", f.ociVersionMax());
        assertEquals(List.of("prestart", "createRuntime", "poststart", "poststop"), f.hooks());
        assertEquals(List.of(), f.mountOptions());
        assertEquals(List.of(), f.linux().namespaces());
        assertEquals(List.of(), f.linux().capabilities());
        assertEquals(new Features.Cgroup(false, false, false, false, false), f.linux().cgroup());
        assertFalse(f.linux().seccomp().enabled());
        assertFalse(f.linux().apparmor().enabled());
        assertFalse(f.linux().selinux().enabled());
    }

    @Test
    void probeWantsRoot() throws Exception {
        HelloBackend hello = new HelloBackend(new FakeOs(1000), List.of(tool("chroot").toString()));
        assertEquals(Availability.no("needs root: chroot(2) requires CAP_SYS_CHROOT (running as uid 1000)"),
                hello.probe());
    }

    @Test
    void probeNamesTheMissingProgram() throws Exception {
        String missing = tmp.resolve("no/chroot").toString();
        HelloBackend hello = new HelloBackend(new FakeOs(0), List.of(tool("sh").toString(), missing));
        assertEquals(Availability.no(missing
                + " is missing (hello runs /bin/sh, and chroot and mkfifo from coreutils)"), hello.probe());
    }

    @Test
    void probeSaysYesToRootWithItsPrograms() throws Exception {
        HelloBackend hello = new HelloBackend(new FakeOs(0), List.of(tool("sh").toString(), tool("chroot").toString()));
        assertEquals(Availability.yes(), hello.probe());
        assertEquals("hello", hello.name());
    }

    @Test
    void statusIsDerivedFromThePidItsStartTimeAndTheFifo() throws Exception {
        FakeOs os = new FakeOs(0);
        HelloBackend hello = new HelloBackend(os);
        FakeContext ctx = context(os, "{\"args\": [\"true\"], \"cwd\": \"/\"}");
        assertEquals(Status.STOPPED, hello.status(ctx), "no pid recorded");

        os.startTimes.put(4242L, 777L);
        ctx.recordPid(4242);
        Files.createFile(ctx.stateDir().resolve(HelloBackend.FIFO));
        assertEquals(Status.CREATED, hello.status(ctx));

        Files.delete(ctx.stateDir().resolve(HelloBackend.FIFO));
        assertEquals(Status.RUNNING, hello.status(ctx));

        os.startTimes.put(4242L, 778L); // the pid now names another process
        assertEquals(Status.STOPPED, hello.status(ctx));
        os.startTimes.remove(4242L);
        assertEquals(Status.STOPPED, hello.status(ctx));
    }

    @Test
    void killSignalsTheRecordedPid() throws Exception {
        FakeOs os = new FakeOs(0);
        FakeContext ctx = context(os, "{\"args\": [\"true\"], \"cwd\": \"/\"}");
        os.startTimes.put(4242L, 777L);
        ctx.recordPid(4242);
        new HelloBackend(os).kill(ctx, Signals.SIGTERM, false);
        assertEquals(List.of(new FakeOs.Kill(4242, Signals.SIGTERM)), os.kills);
    }

    @Test
    void createRefusesWhatItCannotDoBeforeSpawningAnything() throws Exception {
        FakeOs os = new FakeOs(0);
        HelloBackend hello = new HelloBackend(os);
        FakeContext terminal = context(os, "{\"terminal\": true, \"args\": [\"sh\"], \"cwd\": \"/\"}");
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class,
                () -> hello.create(terminal, CreateOptions.defaults()));
        assertEquals("backend hello does not support process.terminal (set it to false)", e.getMessage());

        FakeContext fds = context(os, "{\"args\": [\"sh\"], \"cwd\": \"/\"}");
        e = assertThrows(BackendUnavailableException.class,
                () -> hello.create(fds, new CreateOptions(null, false, false, 2, false)));
        assertEquals("backend hello does not support --preserve-fds", e.getMessage());
        assertTrue(terminal.pid().isEmpty() && fds.pid().isEmpty());
        assertFalse(Files.exists(terminal.stateDir().resolve(HelloBackend.FIFO)));
    }
}
