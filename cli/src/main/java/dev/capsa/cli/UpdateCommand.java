package dev.capsa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.CapsaException;
import dev.capsa.spec.Json;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "update", description = "Change a container's resource limits (linux.resources).")
final class UpdateCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Option(names = {"-r", "--resources"}, paramLabel = "FILE",
            description = "linux.resources as JSON, from FILE or - for stdin; the flags below override it")
    String resources;

    @Option(names = {"-m", "--memory"}, paramLabel = "BYTES", description = "memory limit (k, m, g suffixes)")
    String memory;

    @Option(names = "--memory-reservation", paramLabel = "BYTES", description = "memory soft limit")
    String memoryReservation;

    @Option(names = "--memory-swap", paramLabel = "BYTES", description = "memory plus swap limit; -1 unlimited")
    String memorySwap;

    @Option(names = "--cpu-shares", paramLabel = "N", description = "CPU shares (relative weight)")
    Long cpuShares;

    @Option(names = "--cpu-quota", paramLabel = "USEC", description = "CPU time per period")
    Long cpuQuota;

    @Option(names = "--cpu-period", paramLabel = "USEC", description = "CPU quota period")
    Long cpuPeriod;

    @Option(names = "--cpu-rt-period", paramLabel = "USEC", description = "realtime period")
    Long cpuRtPeriod;

    @Option(names = "--cpu-rt-runtime", paramLabel = "USEC", description = "realtime runtime per period")
    Long cpuRtRuntime;

    @Option(names = "--cpuset-cpus", paramLabel = "LIST", description = "CPUs to run on (0-3,5)")
    String cpusetCpus;

    @Option(names = "--cpuset-mems", paramLabel = "LIST", description = "memory nodes to use")
    String cpusetMems;

    @Option(names = "--pids-limit", paramLabel = "N", description = "maximum number of processes")
    Long pidsLimit;

    @Option(names = "--blkio-weight", paramLabel = "N", description = "block IO weight (10-1000)")
    Integer blkioWeight;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Override
    public Integer call() {
        ObjectNode r = readResources();
        if (memory != null) {
            section(r, "memory").put("limit", bytes("--memory", memory));
        }
        if (memoryReservation != null) {
            section(r, "memory").put("reservation", bytes("--memory-reservation", memoryReservation));
        }
        if (memorySwap != null) {
            section(r, "memory").put("swap", bytes("--memory-swap", memorySwap));
        }
        if (cpuShares != null) {
            section(r, "cpu").put("shares", cpuShares);
        }
        if (cpuQuota != null) {
            section(r, "cpu").put("quota", cpuQuota);
        }
        if (cpuPeriod != null) {
            section(r, "cpu").put("period", cpuPeriod);
        }
        if (cpuRtPeriod != null) {
            section(r, "cpu").put("realtimePeriod", cpuRtPeriod);
        }
        if (cpuRtRuntime != null) {
            section(r, "cpu").put("realtimeRuntime", cpuRtRuntime);
        }
        if (cpusetCpus != null) {
            section(r, "cpu").put("cpus", cpusetCpus);
        }
        if (cpusetMems != null) {
            section(r, "cpu").put("mems", cpusetMems);
        }
        if (pidsLimit != null) {
            section(r, "pids").put("limit", pidsLimit);
        }
        if (blkioWeight != null) {
            section(r, "blockIO").put("weight", blkioWeight);
        }
        root.engine().update(id, r);
        return 0;
    }

    private ObjectNode readResources() {
        if (resources == null) {
            return Json.mapper().createObjectNode();
        }
        try {
            JsonNode tree;
            if (resources.equals("-")) {
                InputStream in = System.in;
                tree = Json.mapper().readTree(in);
            } else {
                tree = Json.mapper().readTree(Files.readAllBytes(dev.capsa.os.Caller.resolve(resources)));
            }
            if (tree == null || !tree.isObject()) {
                throw new CapsaException("--resources " + resources + ": expected a JSON object (linux.resources)");
            }
            return (ObjectNode) tree;
        } catch (IOException e) {
            throw new CapsaException("--resources " + resources + ": " + e.getMessage().lines().findFirst().orElse(""),
                    e);
        }
    }

    private static ObjectNode section(ObjectNode r, String name) {
        JsonNode s = r.get(name);
        return s instanceof ObjectNode o ? o : r.putObject(name);
    }

    /** runc's RAMInBytes: a number with an optional k, m, g, t suffix (powers of 1024), or -1. */
    static long bytes(String flag, String text) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        if (s.equals("-1")) {
            return -1;
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kmgtp]?)i?b?").matcher(s);
        if (!m.matches()) {
            throw new CapsaException(flag + " " + text + ": expected a size such as 512m or 1g");
        }
        double value = Double.parseDouble(m.group(1));
        int shift = switch (m.group(2)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            case "p" -> 50;
            default -> 0;
        };
        return (long) (value * (1L << shift));
    }
}
