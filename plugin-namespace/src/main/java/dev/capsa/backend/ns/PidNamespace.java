package dev.capsa.backend.ns;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The processes of a container without cgroups: every pid whose /proc/PID/ns/pid is the
 * init's, when the init is pid 1 there (the namespace is the container's own). An init that
 * joined another container's pid namespace is not its pid 1: then only the init itself counts,
 * never the other container's processes.
 */
final class PidNamespace {
    private final Path proc;

    PidNamespace(Path proc) {
        this.proc = proc;
    }

    /** The pids in the same pid namespace as {@code init}, init first; empty when init is gone. */
    List<Long> members(long init) {
        String ns = link(init);
        List<Long> pids = new ArrayList<>();
        if (ns == null) {
            return pids;
        }
        pids.add(init);
        if (!pidOne(init)) {
            return pids;
        }
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(proc)) {
            for (Path p : dir) {
                String name = p.getFileName().toString();
                if (name.isEmpty() || !Character.isDigit(name.charAt(0))) {
                    continue;
                }
                long pid;
                try {
                    pid = Long.parseLong(name);
                } catch (NumberFormatException e) {
                    continue;
                }
                if (pid != init && ns.equals(link(pid))) {
                    pids.add(pid);
                }
            }
        } catch (IOException e) {
            // /proc unreadable: report what we know
        }
        return pids;
    }

    /** The last NSpid of /proc/PID/status is the pid in its own pid namespace. */
    private boolean pidOne(long pid) {
        try {
            for (String line : Files.readAllLines(proc.resolve(Long.toString(pid)).resolve("status"))) {
                if (line.startsWith("NSpid:")) {
                    String[] ids = line.substring(6).trim().split("\\s+");
                    return ids[ids.length - 1].equals("1");
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    private String link(long pid) {
        try {
            return Files.readSymbolicLink(proc.resolve(Long.toString(pid)).resolve("ns/pid")).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
    }
}
