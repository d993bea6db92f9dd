package dev.capsa.backend.ns.cgroup;

import dev.capsa.error.CapsaException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** What both versions do with a cgroup directory as a whole: make it, join it, list it, remove it. */
final class CgroupTree {
    private CgroupTree() {
    }

    static void mkdirs(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new CapsaException("creating cgroup " + dir + ": " + CgroupFiles.errno(e), e);
        }
    }

    /**
     * Writes a pid to cgroup.procs. EINVAL can mean the task is still being forked (TASK_NEW):
     * retried as runc's WriteCgroupProc does, 5 times 30 ms apart.
     */
    static void addProc(CgroupFiles files, Path dir, long pid) {
        Path procs = dir.resolve("cgroup.procs");
        for (int attempt = 1; ; attempt++) {
            try {
                files.writeOrThrow(procs, Long.toString(pid));
                return;
            } catch (IOException e) {
                if (!CgroupFiles.is(e, "EINVAL") || attempt == 5) {
                    throw CgroupFiles.failed("", procs, Long.toString(pid), e,
                            CgroupFiles.is(e, "ESRCH") ? " (the process is gone)" : "");
                }
                sleep(30);
            }
        }
    }

    /** The pids in {@code dir} and every cgroup below it (runc's GetAllPids). */
    static List<Long> procs(Path dir) {
        List<Long> pids = new ArrayList<>();
        int subdirs = subdirs(dir);
        if (subdirs < 0) {
            return pids;
        }
        if (subdirs == 0) { // the usual container cgroup: no walk that stats each of its files
            readPids(dir.resolve("cgroup.procs"), pids);
            return pids;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path procs : walk.filter(p -> p.getFileName().toString().equals("cgroup.procs")).toList()) {
                readPids(procs, pids);
            }
        } catch (IOException e) {
            throw new CapsaException("listing " + dir + ": " + CgroupFiles.errno(e), e);
        }
        return pids;
    }

    private static void readPids(Path procs, List<Long> pids) {
        for (String line : CgroupFiles.read(procs).split("\n")) {
            if (!line.isBlank()) {
                pids.add(Long.parseLong(line.strip()));
            }
        }
    }

    /**
     * How many directories {@code dir} holds, from its link count (2 + subdirectories, which
     * cgroupfs keeps as other file systems do), or -1 when it is not a directory. One stat instead
     * of a walk that stats every file of every cgroup: a v1 host has a dozen hierarchies.
     */
    static int subdirs(Path dir) {
        try {
            Map<String, Object> a = Files.readAttributes(dir, "unix:isDirectory,nlink");
            return (Boolean) a.get("isDirectory") ? (Integer) a.get("nlink") - 2 : -1;
        } catch (NoSuchFileException e) {
            return -1;
        } catch (IOException | UnsupportedOperationException e) {
            return Files.isDirectory(dir) ? Integer.MAX_VALUE : -1; // not known: walk it
        }
    }

    /**
     * Removes {@code dir} and the cgroups below it, deepest first, with rmdir: the kernel removes
     * a cgroup's files with it. EBUSY (a dying task still accounted) is retried 5 times, 10 ms
     * doubling, as runc's RemovePath. Fixture directories (not cgroupfs) hold plain files, which
     * are deleted first; on cgroupfs nothing but rmdir is ever attempted.
     */
    static void remove(Path dir) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try {
            Files.deleteIfExists(dir); // a cgroup without children and processes: one rmdir
            return;
        } catch (IOException e) {
            // children, processes, or a fixture's plain files: the careful way below
        }
        boolean cgroupfs = cgroupfs(dir);
        List<Path> dirs;
        try (Stream<Path> walk = Files.walk(dir)) {
            dirs = walk.filter(Files::isDirectory).sorted(Comparator.comparingInt(Path::getNameCount).reversed()).toList();
        } catch (IOException e) {
            throw new CapsaException("removing cgroup " + dir + ": " + CgroupFiles.errno(e), e);
        }
        for (Path d : dirs) {
            rmdir(d, cgroupfs);
        }
    }

    private static void rmdir(Path d, boolean cgroupfs) {
        long delay = 10;
        for (int attempt = 1; ; attempt++) {
            try {
                if (!cgroupfs) {
                    try (Stream<Path> files = Files.list(d)) {
                        for (Path f : files.filter(Files::isRegularFile).toList()) {
                            Files.delete(f);
                        }
                    }
                }
                Files.deleteIfExists(d);
                return;
            } catch (IOException e) {
                if (!CgroupFiles.is(e, "EBUSY") && !CgroupFiles.is(e, "ENOTEMPTY") || attempt == 5) {
                    String why = CgroupFiles.is(e, "EBUSY") ? " (processes are still in it: kill them first)" : "";
                    throw new CapsaException("removing cgroup " + d + ": " + CgroupFiles.errno(e) + why, e);
                }
                sleep(delay);
                delay *= 2;
            }
        }
    }

    private static boolean cgroupfs(Path dir) {
        try {
            String type = Files.getFileStore(dir).type();
            return type.equals("cgroup") || type.equals("cgroup2");
        } catch (IOException e) {
            return true; // when unsure, only rmdir
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CapsaException("interrupted");
        }
    }
}
