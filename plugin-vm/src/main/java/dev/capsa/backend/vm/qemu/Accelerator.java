package dev.capsa.backend.vm.qemu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.OptionalInt;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Picks the accelerator: KVM where it can run a 64-bit guest, otherwise TCG. /dev/kvm alone says
 * little: on the build machines it is the nested paravirtual kvm_pvm, which cannot boot a stock
 * kernel and runs other guest code about a hundred times slower than TCG. So the probe runs a tiny
 * 64-bit guest (accel-probe.S) under {@code -accel kvm} with a deadline; KVM counts only if that
 * guest exits with the expected status in time. The probe is killed at the deadline, so it never
 * hangs. The answer is kept per host boot (/proc/sys/kernel/random/boot_id) in a cache file.
 */
public final class Accelerator {
    public static final Duration PROBE_TIMEOUT = Duration.ofSeconds(3);
    /** The probe guest's write of 0x10 to isa-debug-exit. */
    static final int PROBE_EXIT = (0x10 << 1) | 1;
    private static final Logger LOG = LoggerFactory.getLogger(Accelerator.class);

    /** The accelerator QEMU gets ("kvm" or "tcg"), and why. */
    public record Choice(String accel, String reason) {
    }

    /** Runs a command with a deadline: its exit status, or empty when it was killed at the deadline. */
    public interface Runner {
        OptionalInt run(List<String> argv, Duration timeout);
    }

    private final String qemu;
    private final Path kvmDevice;
    private final Runner runner;

    public Accelerator(String qemu, Path kvmDevice, Runner runner) {
        this.qemu = qemu;
        this.kvmDevice = kvmDevice;
        this.runner = runner;
    }

    /** The cached choice for this boot, or a fresh probe (written to {@code cache}). */
    public Choice choose(Path cache, String bootId, Path probeImage) {
        Choice cached = read(cache, bootId);
        if (cached != null) {
            return cached;
        }
        Choice choice = probe(probeImage);
        if (choice.accel().equals("tcg")) {
            LOG.warn("vm backend: the guest runs under TCG (emulation, slower): {}", choice.reason());
        }
        write(cache, bootId, choice);
        return choice;
    }

    public Choice probe(Path probeImage) {
        if (!Files.exists(kvmDevice)) {
            return new Choice("tcg", "there is no " + kvmDevice);
        }
        if (!Files.isReadable(kvmDevice) || !Files.isWritable(kvmDevice)) {
            return new Choice("tcg", kvmDevice + " is not open to this user");
        }
        List<String> argv = new QemuCommandLine(qemu)
                .add(new QemuCommandLine.Machine("microvm", "kvm"))
                .add(new QemuCommandLine.Memory(16))
                .add(new QemuCommandLine.Bios(probeImage))
                .add(new QemuCommandLine.DebugExit())
                .argv();
        OptionalInt status = runner.run(argv, PROBE_TIMEOUT);
        if (status.isEmpty()) {
            return new Choice("tcg", "KVM did not run a 64-bit test guest within " + PROBE_TIMEOUT.toMillis()
                    + " ms (a nested or paravirtual KVM such as kvm_pvm cannot boot a stock kernel)");
        }
        if (status.getAsInt() != PROBE_EXIT) {
            return new Choice("tcg", "QEMU could not run a test guest under KVM (exit status " + status.getAsInt()
                    + ")");
        }
        return new Choice("kvm", "KVM ran the test guest in time");
    }

    static Choice read(Path cache, String bootId) {
        try {
            String[] parts = Files.readString(cache, StandardCharsets.UTF_8).strip().split(" ", 3);
            if (parts.length == 3 && parts[0].equals(bootId) && (parts[1].equals("kvm") || parts[1].equals("tcg"))) {
                return new Choice(parts[1], parts[2]);
            }
        } catch (IOException e) {
            // no cache yet
        }
        return null;
    }

    static void write(Path cache, String bootId, Choice choice) {
        try {
            Files.createDirectories(cache.getParent());
            Path tmp = Files.createTempFile(cache.getParent(), ".vm-accelerator", ".tmp");
            Files.writeString(tmp, bootId + " " + choice.accel() + " " + choice.reason() + "\n");
            Files.move(tmp, cache, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            LOG.debug("cannot cache the accelerator choice in {}: {}", cache, e.getMessage());
        }
    }

    /** The real runner: output discarded, killed at the deadline and reaped. */
    public static OptionalInt runProcess(List<String> argv, Duration timeout) {
        try {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            if (p.waitFor(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                return OptionalInt.of(p.exitValue());
            }
            p.destroyForcibly();
            p.waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
            return OptionalInt.empty();
        } catch (IOException e) {
            return OptionalInt.of(-1);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return OptionalInt.empty();
        }
    }
}
