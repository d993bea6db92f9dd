package dev.capsa.backend.vm.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AcceleratorTest {
    @TempDir
    Path tmp;

    /** Records each run and answers with a fixed status (empty: killed at the deadline). */
    private static final class FakeRunner implements Accelerator.Runner {
        final List<List<String>> runs = new ArrayList<>();
        final List<Duration> timeouts = new ArrayList<>();
        final OptionalInt answer;

        FakeRunner(OptionalInt answer) {
            this.answer = answer;
        }

        @Override
        public OptionalInt run(List<String> argv, Duration timeout) {
            runs.add(argv);
            timeouts.add(timeout);
            return answer;
        }
    }

    private Path kvm() throws Exception {
        return Files.createFile(tmp.resolve("kvm"));
    }

    @Test
    void kvmThatRunsTheProbeGuestInTimeIsUsed() throws Exception {
        FakeRunner runner = new FakeRunner(OptionalInt.of(33));
        Accelerator.Choice c = new Accelerator("q", kvm(), runner).probe(Path.of("/p.bin"));
        assertEquals("kvm", c.accel());
        assertEquals(List.of(List.of("q", "-M", "microvm", "-accel", "kvm", "-nodefaults", "-no-user-config",
                "-nographic", "-no-reboot", "-m", "16", "-bios", "/p.bin", "-device",
                "isa-debug-exit,iobase=0xf4,iosize=4")), runner.runs);
        assertEquals(List.of(Duration.ofSeconds(3)), runner.timeouts);
    }

    @Test
    void aProbeKilledAtTheDeadlineMeansTcgAndSaysWhy() throws Exception {
        Accelerator.Choice c = new Accelerator("q", kvm(), new FakeRunner(OptionalInt.empty())).probe(Path.of("/p"));
        assertEquals("tcg", c.accel());
        assertTrue(c.reason().contains("did not run a 64-bit test guest within 3000 ms"), c.reason());
    }

    @Test
    void aFailingQemuMeansTcg() throws Exception {
        Accelerator.Choice c = new Accelerator("q", kvm(), new FakeRunner(OptionalInt.of(1))).probe(Path.of("/p"));
        assertEquals("tcg", c.accel());
        assertTrue(c.reason().contains("exit status 1"), c.reason());
    }

    @Test
    void withoutDevKvmNothingRuns() {
        FakeRunner runner = new FakeRunner(OptionalInt.of(33));
        Accelerator.Choice c = new Accelerator("q", tmp.resolve("none"), runner).probe(Path.of("/p"));
        assertEquals(new Accelerator.Choice("tcg", "there is no " + tmp.resolve("none")), c);
        assertEquals(List.of(), runner.runs);
    }

    @Test
    void theAnswerIsCachedPerBoot() throws Exception {
        Path cache = tmp.resolve("root/.vm-accelerator");
        FakeRunner runner = new FakeRunner(OptionalInt.empty());
        Accelerator a = new Accelerator("q", kvm(), runner);
        Accelerator.Choice first = a.choose(cache, "boot-1", Path.of("/p"));
        Accelerator.Choice again = a.choose(cache, "boot-1", Path.of("/p"));
        assertEquals(first, again);
        assertEquals(1, runner.runs.size());
        assertTrue(Files.readString(cache).startsWith("boot-1 tcg "), Files.readString(cache));
        a.choose(cache, "boot-2", Path.of("/p"));
        assertEquals(2, runner.runs.size(), "a new boot probes again");
    }

    @Test
    void theRealRunnerKillsAHungCommandAtTheDeadline() {
        long t0 = System.nanoTime();
        OptionalInt status = Accelerator.runProcess(List.of("sleep", "30"), Duration.ofMillis(200));
        assertEquals(OptionalInt.empty(), status);
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
        assertEquals(OptionalInt.of(3), Accelerator.runProcess(List.of("sh", "-c", "exit 3"), Duration.ofSeconds(5)));
    }
}
