package dev.capsa.backend.ns.cgroup;

import dev.capsa.error.CapsaException;
import dev.capsa.error.InvalidSpecException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * {@code linux.cgroupsPath} as runc's cgroupfs driver reads it (libcontainer/specconv and
 * cgroups/fs/paths.go, fs2/defaultpath.go):
 *
 * <ul>
 *   <li>absolute ("/a/b"): relative to the root of each hierarchy: /sys/fs/cgroup/memory/a/b;
 *   <li>relative ("a/b"): under the cgroup of the runtime process itself, per v1 hierarchy
 *       (/proc/self/cgroup), or under the parent of its cgroup on v2 (its own cgroup holds
 *       processes, so controllers could not be enabled below it);
 *   <li>empty: the container id as a relative path (runc sets Name = id, Path = "").
 * </ul>
 *
 * With {@code --systemd-cgroup} runc reads "slice:prefix:name" and asks systemd over D-Bus;
 * Capsa has no systemd driver, and refuses the flag with a message that says what to do.
 * runc cleans ".." away; Capsa refuses it.
 *
 * @param inner the cleaned path: "/a/b" when absolute, "a/b" when relative
 */
public record CgroupPath(String inner) {
    static final String POINTER = "/linux/cgroupsPath";

    public CgroupPath {
        if (inner.isEmpty() || inner.endsWith("/") && inner.length() > 1) {
            throw new IllegalArgumentException("not a cleaned cgroup path: " + inner);
        }
    }

    /** The path for a container from the live host (reads /proc/1/comm only for --systemd-cgroup). */
    public static CgroupPath of(String cgroupsPath, String id, boolean systemdCgroup) {
        return of(cgroupsPath, id, systemdCgroup, CgroupPath::pid1);
    }

    static CgroupPath of(String cgroupsPath, String id, boolean systemdCgroup, Supplier<String> pid1) {
        if (systemdCgroup) {
            String init = pid1.get();
            if (!init.equals("systemd")) {
                throw new CapsaException("--systemd-cgroup needs systemd (pid 1 is " + init
                        + "); drop the flag to use cgroupfs");
            }
            throw new CapsaException("--systemd-cgroup is not supported yet (the systemd cgroup driver is not "
                    + "built); drop the flag to use cgroupfs");
        }
        String raw = cgroupsPath == null ? "" : cgroupsPath;
        if (raw.isEmpty()) {
            raw = id;
        }
        if (raw.indexOf('\0') >= 0) {
            throw new InvalidSpecException(POINTER, "contains a NUL byte");
        }
        boolean absolute = raw.startsWith("/");
        List<String> parts = new ArrayList<>();
        for (String part : raw.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                throw new InvalidSpecException(POINTER, "\"" + cgroupsPath + "\" must not contain \"..\"");
            }
            parts.add(part);
        }
        if (parts.isEmpty()) {
            // "/" would make the container the root cgroup of every hierarchy
            throw new InvalidSpecException(POINTER, "\"" + raw + "\" names the root cgroup; give the container a cgroup of its own");
        }
        return new CgroupPath((absolute ? "/" : "") + String.join("/", parts));
    }

    public boolean absolute() {
        return inner.startsWith("/");
    }

    /**
     * The directory in a hierarchy mounted at {@code mount}: absolute paths go under the mount,
     * relative ones under {@code base}, the runtime's own cgroup in that hierarchy as seen from
     * the mount ("/" or "/a/b").
     */
    Path in(Path mount, String base) {
        String rel = absolute() ? inner.substring(1) : join(base, inner);
        return rel.isEmpty() ? mount : mount.resolve(rel);
    }

    private static String join(String base, String rel) {
        String b = base == null ? "" : base.replaceAll("^/+", "").replaceAll("/+$", "");
        return b.isEmpty() ? rel : b + "/" + rel;
    }

    private static String pid1() {
        try {
            return Files.readString(Path.of("/proc/1/comm")).strip();
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    @Override
    public String toString() {
        return inner;
    }
}
