package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.cli.LauncherIT.Result;
import dev.capsa.fault.FaultStep;
import dev.capsa.fault.Faults;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A fault at every step of create, start, exec and delete ({@link FaultStep}, switched on with
 * {@code CAPSA_FAULT=STEP:ACTION}): capsa fails there, or is SIGKILLed there (a JVM of its own per
 * faulting command, {@code CAPSA_SERVER=0}: a crash of a one-shot capsa), or capsa-init is. After
 * each, {@code state} tells the truth, {@code delete --force} exits 0, and nothing is left: no state
 * directory, socket, mount, cgroup, capsa-init, QEMU or container process. The cases come from
 * {@code FaultStep.values()}: a new step gets its cases, which fail until the step is reached. The
 * vm backend runs every step it reaches with {@code fail}, and its own steps with {@code kill} too
 * (each case boots a guest). docs/reliability.md "Faults at every step".
 */
@Tag("integration")
class FaultInjectionIT extends BusyboxBundle {
    private static final List<String> APPLETS = List.of("sh", "sleep", "true");
    private static final Path GUEST = Path.of(System.getenv().getOrDefault("CAPSA_GUEST_DIR", "/var/lib/capsa/guest"));
    private static final Set<String> STATUSES = Set.of("creating", "created", "running", "paused", "stopped");

    @TempDir
    static Path shared;
    private static Path sharedRoot;
    /** What ran, for the summary line: cases per backend and action. */
    private static final Map<String, Integer> RAN = new java.util.concurrent.ConcurrentSkipListMap<>();

    FaultInjectionIT() {
        super(APPLETS, true);
    }

    @BeforeAll
    static void sharedRoot() {
        // one state root for the class: the vm backend's accelerator probe runs once
        sharedRoot = shared.resolve("root");
    }

    @AfterAll
    static void summary() {
        System.out.println("fault injection: " + RAN);
    }

    @Override
    Path stateRoot() {
        return sharedRoot;
    }

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (String backend : List.of("ns", "vm")) {
            for (FaultStep step : FaultStep.values()) {
                if (!step.where().reachedBy(backend)) {
                    continue;
                }
                for (Faults.Action action : Faults.Action.values()) {
                    // a guest boot per case: the vm backend's kills are its own steps only
                    if (backend.equals("vm") && action == Faults.Action.KILL && step.where() != FaultStep.Where.VM) {
                        continue;
                    }
                    cases.add(Arguments.of(backend, step, action));
                }
            }
        }
        return cases.stream();
    }

    @Test
    void everyStepHasACaseOnEveryBackendThatReachesIt() {
        for (FaultStep step : FaultStep.values()) {
            for (String backend : List.of("ns", "vm")) {
                boolean covered = cases().anyMatch(a -> a.get()[0].equals(backend) && a.get()[1] == step
                        && a.get()[2] == Faults.Action.FAIL);
                assertEquals(step.where().reachedBy(backend), covered, backend + " " + step);
            }
            assertTrue(cases().anyMatch(a -> a.get()[1] == step && a.get()[2] == Faults.Action.KILL), "kill at " + step);
        }
    }

    /** -Dcapsa.fault.backends=ns runs the ns cases alone (the vm's boot a guest each). */
    private static final List<String> BACKENDS = List.of(System.getProperty("capsa.fault.backends", "ns,vm").split(","));
    /** -Dcapsa.fault.steps=ns-ready,init-pivoted runs those steps alone (keys as in CAPSA_FAULT). */
    private static final String STEPS = System.getProperty("capsa.fault.steps", "");

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void aFaultLeavesATruthfulStateThatDeleteForceRemoves(String backend, FaultStep step, Faults.Action action)
            throws Exception {
        assumeTrue(BACKENDS.contains(backend), "-Dcapsa.fault.backends=" + String.join(",", BACKENDS));
        assumeTrue(STEPS.isEmpty() || List.of(STEPS.split(",")).contains(step.key()), "-Dcapsa.fault.steps=" + STEPS);
        if (backend.equals("vm")) {
            assumeVm();
        }
        String id = id(backend + "-" + step.key() + "-" + action.key());
        args("sleep", "600");
        Map<String, String> fault = new HashMap<>(Map.of(Faults.ENV, step.key() + ":" + action.key()));
        if (action == Faults.Action.KILL) {
            fault.put("CAPSA_SERVER", "0"); // the command's own JVM dies, not the warm server of the others
        }
        Set<Long> pids = new LinkedHashSet<>();
        Result faulted;
        if (step.command() == FaultStep.Command.CREATE) {
            faulted = capsa(fault, "--backend=" + backend, "create", id);
        } else {
            Result created = capsa(step.armedBy() == FaultStep.Command.CREATE ? fault : Map.of(),
                    "--backend=" + backend, "create", id);
            assertEquals(0, created.code(), created.err());
            pids.add(state(id).get("pid").asLong());
            if (step.command() != FaultStep.Command.START) {
                Result started = capsa("start", id);
                assertEquals(0, started.code(), started.err());
            }
            Map<String, String> env = step.armedBy() == step.command() ? fault : Map.of();
            faulted = switch (step.command()) {
                case START -> capsa(env, "start", id);
                case EXEC -> capsa(env, "exec", id, "true");
                default -> capsa(env, "delete", "--force", id);
            };
        }
        RAN.merge(backend + " " + action.key(), 1, Integer::sum);
        assertReached(step, action, faulted);
        recordedPid(id).ifPresent(pids::add);

        Result state = capsa("state", id);
        if (action == Faults.Action.FAIL && step.command() == FaultStep.Command.CREATE) {
            // a create that fails undoes itself: no container, nothing left, before any delete
            assertEquals(1, state.code(), state.out());
            assertTrue(state.err().contains("container \"" + id + "\" does not exist"), state.err());
            assertNothingOfLeft(id, pids);
        } else {
            assertTruthful(id, state, pids);
        }

        Result delete = capsa("delete", "--force", id);
        assertEquals(0, delete.code(), delete.err());
        Result gone = capsa("state", id);
        assertEquals(1, gone.code(), gone.out());
        assertTrue(gone.err().contains("container \"" + id + "\" does not exist"), gone.err());
        assertNothingOfLeft(id, pids);
    }

    /**
     * Under the capsa server the switch is the client's environment, and {@code kill} kills the
     * server, which does the command's work: the client says so, a new server takes the next
     * command, and the container is cleaned up as after any crash.
     */
    @Test
    void killUnderTheServerKillsTheServerAndTheNextCommandGetsANewOne() throws Exception {
        args("sleep", "600");
        String id = id("server-kill");
        Result created = capsa(Map.of(Faults.ENV, FaultStep.NS_READY.key() + ":kill"), "--backend=ns", "create", id);
        assertEquals(1, created.code(), created.err());
        assertTrue(created.err().contains("the capsa server ended before the command finished"), created.err());
        Set<Long> pids = new LinkedHashSet<>();
        recordedPid(id).ifPresent(pids::add);
        assertEquals(1, pids.size(), "create recorded the init's pid before it died");
        assertTruthful(id, capsa("state", id), pids);
        Result delete = capsa("delete", "--force", id);
        assertEquals(0, delete.code(), delete.err());
        assertNothingOfLeft(id, pids);
    }

    /** The switch is capsa's: neither the container's process nor an exec'd one sees it. */
    @Test
    void theSwitchNeverReachesTheContainer() throws Exception {
        args("sleep", "600");
        String id = id("env");
        Map<String, String> unreached = Map.of(Faults.ENV, FaultStep.DELETE_POSTSTOP_RUN.key() + ":fail");
        Result created = capsa(unreached, "create", id);
        assertEquals(0, created.code(), created.err());
        long pid = state(id).get("pid").asLong();
        String environ = Files.readString(Path.of("/proc/" + pid + "/environ"), StandardCharsets.ISO_8859_1);
        assertFalse(environ.contains(Faults.ENV), environ);
        assertEquals(0, capsa("start", id).code());
        Result exec = capsa(unreached, "exec", id, "sh", "-c", "cat /proc/self/environ; echo; env");
        assertEquals(0, exec.code(), exec.err());
        assertFalse(exec.out().contains(Faults.ENV), exec.out());
        assertTrue(exec.out().contains("PATH="), "the exec'd process's environment is printed: " + exec.out());
    }

    /** The command shows that the fault fired where it was asked for. */
    private static void assertReached(FaultStep step, Faults.Action action, Result r) {
        String where = "fault injected at step " + step.key();
        if (action == Faults.Action.FAIL) {
            assertEquals(1, r.code(), r.out() + r.err());
            assertTrue(r.err().contains(where), r.err());
        } else if (step.where() != FaultStep.Where.INIT) {
            assertEquals(128 + 9, r.code(), "capsa dies by SIGKILL: " + r.err());
        } else if (step.command() == FaultStep.Command.START) {
            // the init dies after "ready": nobody hears it but start, which finds it gone
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().contains("its process ended before start released it"), r.err());
        } else {
            assertTrue(r.code() != 0, r.out() + r.err());
            assertTrue(r.err().contains(where + ": capsa-init kills itself"), r.err());
        }
    }

    /**
     * state agrees with the live system: a live status has its process alive (the one recorded);
     * stopped has every process the container had gone.
     */
    private void assertTruthful(String id, Result r, Set<Long> pids) throws IOException {
        if (r.code() != 0) {
            assertTrue(r.err().contains("container \"" + id + "\" does not exist"), r.err());
            return;
        }
        JsonNode state = Json.mapper().readTree(r.out());
        String status = state.get("status").asText();
        assertTrue(STATUSES.contains(status), r.out());
        long pid = state.path("pid").asLong(0);
        if (status.equals("stopped")) {
            for (long p : pids) {
                assertFalse(alive(p), "state says stopped, process " + p + " lives: " + r.out());
            }
        } else if (pid > 0) {
            assertTrue(alive(pid), "state says " + status + " with process " + pid + ", which is gone: " + r.out());
        } else {
            assertEquals("creating", status, "only a create that has not made the process yet has no pid: " + r.out());
        }
    }

    private void assertNothingOfLeft(String id, Set<Long> pids) throws Exception {
        assertFalse(Files.exists(root.resolve(id)), "state directory " + root.resolve(id));
        for (long p : pids) {
            waitGone(p);
            assertFalse(alive(p), "process " + p + " of " + id + " is left");
        }
        assertEquals(List.of(), processesMentioning(root.resolve(id).toString()), "capsa-init, QEMU or relays left");
        assertEquals(List.of(), socketsUnder(root), "sockets left");
        assertNothingElseLeft(); // mounts under the test's directory, cgroups of the test
        String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
        assertFalse(mounts.contains(root.toString()), "a mount under " + root + " is left:\n" + mounts);
    }

    /** The pid in the record itself (a create that died has one that state may not show). */
    private java.util.Optional<Long> recordedPid(String id) {
        try {
            long pid = Json.mapper().readTree(root.resolve(id).resolve("state.json").toFile()).path("pid").asLong(0);
            return pid > 0 ? java.util.Optional.of(pid) : java.util.Optional.empty();
        } catch (IOException e) {
            return java.util.Optional.empty();
        }
    }

    /** A process SIGKILLed by delete may take a moment to be reaped by its parent. */
    private static void waitGone(long pid) throws InterruptedException {
        for (int i = 0; i < 100 && alive(pid); i++) {
            Thread.sleep(10);
        }
    }

    private static List<String> socketsUnder(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> all = Files.walk(dir)) {
            return all.filter(p -> p.getFileName().toString().endsWith(".sock")).map(Path::toString).toList();
        }
    }

    /** Live processes (no zombies) whose command line mentions {@code text}: capsa-init, QEMU, capsa-relay. */
    private static List<String> processesMentioning(String text) throws IOException {
        List<String> found = new ArrayList<>();
        long self = ProcessHandle.current().pid();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    long pid = Long.parseLong(p.getFileName().toString());
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8)
                            .replace('\0', ' ');
                    if (pid != self && cmd.contains(text) && !procState(pid).equals("Z")) {
                        found.add(pid + ": " + cmd);
                    }
                } catch (IOException e) {
                    // gone meanwhile
                }
            }
        }
        return found;
    }

    private static void assumeVm() {
        assumeTrue(onPath("qemu-system-x86_64"), "no qemu-system-x86_64 (Debian: apt-get install qemu-system-x86)");
        assumeTrue(Files.exists(GUEST.resolve("current/vmlinux")) || Files.exists(GUEST.resolve("vmlinux")),
                "no guest image in " + GUEST + " (run scripts/build-guest.sh)");
    }

    private static boolean onPath(String program) {
        return Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .anyMatch(d -> !d.isEmpty() && Files.isExecutable(Path.of(d, program)));
    }

    @Override
    Result capsa(String... args) throws Exception {
        return capsa(Map.of(), args);
    }

    /** The launcher with {@code env} added, stdin /dev/null (a detached guest must not hold the test's). */
    private Result capsa(Map<String, String> env, String... args) throws Exception {
        List<String> command = command(args);
        ProcessBuilder pb = new ProcessBuilder(command).directory(bundle.toFile());
        pb.environment().remove("CAPSA_PLUGINS");
        pb.environment().remove(Faults.ENV);
        pb.environment().putAll(env);
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            if (!p.waitFor(90, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("timed out: " + command + " " + env);
            }
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
