package dev.capsa.backend.ns.cgroup;

import dev.capsa.error.CapsaException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The cgroup hierarchies of a host, read from /proc/self/mountinfo at run time (never assumed
 * from the distribution), and the factory for a container's {@link CgroupManager}.
 *
 * <p>{@link CgroupMode#V2} when a cgroup2 is mounted at the root (/sys/fs/cgroup) and has
 * cgroup.controllers; otherwise {@link CgroupMode#V1} when v1 hierarchies are mounted below
 * it. On a hybrid host the cgroup2 mount below the root (/sys/fs/cgroup/unified) is kept only
 * to put the container's processes into it, as runc does.
 *
 * @param mode     how the host is driven
 * @param root     the directory the hierarchies are mounted under (/sys/fs/cgroup)
 * @param mounts   every cgroup mount below or at the root, in mountinfo order
 */
public record CgroupHost(CgroupMode mode, Path root, List<Mount> mounts) {
    /** Where hosts mount their cgroups. */
    public static final Path DEFAULT_ROOT = Path.of("/sys/fs/cgroup");

    /** The v1 controllers the kernel knows; other super options (rw, xattr, nsdelegate) are not controllers. */
    static final Set<String> V1_CONTROLLERS = Set.of("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer",
            "net_cls", "net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc");

    /**
     * One cgroup mount.
     *
     * @param point       the mount point
     * @param root        the cgroup the mount shows as its root ("/" unless mounted inside a cgroup namespace)
     * @param v2          a cgroup2 mount
     * @param controllers v1: the controllers and "name=..." of the hierarchy; v2: empty
     */
    public record Mount(Path point, String root, boolean v2, List<String> controllers) {
        public Mount {
            controllers = List.copyOf(controllers);
        }
    }

    public CgroupHost {
        mounts = List.copyOf(mounts);
    }

    /**
     * The cgroups of the command's caller: this JVM's own, or under the capsa server the client's
     * (docs/server.md), so that a relative cgroupsPath and a monitor's way back resolve as they
     * would for a JVM started by the caller, as runc resolves them against its own cgroup.
     */
    private static Path callerCgroups() {
        return Path.of("/proc/" + dev.capsa.os.Caller.current().pid() + "/cgroup");
    }

    /** The last live host and the mountinfo it was read from: the capsa server detects it for every command. */
    private record Detected(List<String> mountinfo, CgroupHost host) {
    }

    private static volatile Detected last;

    /** The live host: /proc/self/mountinfo and /sys/fs/cgroup (parsed again only when mountinfo changed). */
    public static CgroupHost detect() {
        List<String> mountinfo = readLines(Path.of("/proc/self/mountinfo"));
        Detected known = last;
        if (known != null && known.mountinfo().equals(mountinfo)) {
            return known.host();
        }
        CgroupHost host = detect(mountinfo, DEFAULT_ROOT);
        last = new Detected(mountinfo, host);
        return host;
    }

    /** A host from mountinfo lines; {@code root} is where its hierarchies live (a fixture directory in tests). */
    public static CgroupHost detect(List<String> mountinfo, Path root) {
        List<Mount> mounts = new ArrayList<>();
        for (String line : mountinfo) {
            Mount m = parse(line, root);
            if (m != null) {
                mounts.add(m);
            }
        }
        for (Mount m : mounts) {
            if (m.v2() && m.point().equals(root) && Files.exists(root.resolve("cgroup.controllers"))) {
                return new CgroupHost(CgroupMode.V2, root, List.of(m));
            }
        }
        if (mounts.stream().anyMatch(m -> !m.v2())) {
            return new CgroupHost(CgroupMode.V1, root, mounts.stream().filter(m -> !m.point().equals(root)).toList());
        }
        throw new CapsaException("no cgroup hierarchy is mounted under " + root
                + " (neither a cgroup2 with cgroup.controllers at " + root + " nor v1 controllers below it)");
    }

    /**
     * The manager of the cgroup at {@code path}. A relative path is resolved against the runtime
     * process's own cgroups, read from /proc/self/cgroup.
     */
    public CgroupManager manager(CgroupPath path) {
        return manager(path, path.absolute() ? List.of() : readLines(callerCgroups()), new CgroupFiles());
    }

    /** {@link #manager(CgroupPath)} with the lines of /proc/self/cgroup given (tests). */
    CgroupManager manager(CgroupPath path, List<String> selfCgroup, CgroupFiles files) {
        Map<String, String> own = ownCgroups(selfCgroup);
        if (mode == CgroupMode.V2) {
            Mount m = mounts.getFirst();
            String base = "";
            if (!path.absolute()) {
                // fs2/defaultpath.go: the parent of the runtime's cgroup, which holds processes itself
                String self = seenFrom(m, own.getOrDefault("", "/"));
                int slash = self.lastIndexOf('/');
                base = slash <= 0 ? "/" : self.substring(0, slash);
            }
            return new CgroupV2(m.point(), path.in(m.point(), base), files);
        }
        Map<String, Path> dirs = new LinkedHashMap<>();
        for (Mount m : mounts) {
            String key = m.v2() ? "" : String.join(",", m.controllers());
            if (!m.v2() && m.controllers().isEmpty()) {
                continue;
            }
            String base = "/";
            if (!path.absolute()) {
                String ownPath = m.v2() ? own.get("") : m.controllers().stream()
                        .map(own::get).filter(p -> p != null).findFirst().orElse(null);
                base = seenFrom(m, ownPath == null ? "/" : ownPath);
            }
            dirs.put(key, path.in(m.point(), base));
        }
        return new CgroupV1(dirs, files);
    }

    /**
     * The calling process's own cgroups, keyed as {@link CgroupManager#paths()} keys them, in the
     * hierarchies a container joins: where a foreground capsa-init goes back to after the clone.
     */
    public Map<String, Path> ownDirs() {
        return ownDirs(readLines(callerCgroups()));
    }

    Map<String, Path> ownDirs(List<String> selfCgroup) {
        Map<String, String> own = ownCgroups(selfCgroup);
        Map<String, Path> dirs = new LinkedHashMap<>();
        for (Mount m : mounts) {
            if (!m.v2() && m.controllers().isEmpty()) {
                continue;
            }
            String key = m.v2() ? "" : String.join(",", m.controllers());
            String path = m.v2() ? own.get("") : m.controllers().stream()
                    .map(own::get).filter(p -> p != null).findFirst().orElse(null);
            // a hierarchy /proc/self/cgroup does not list holds us at its root, as manager() reads it too
            String rel = seenFrom(m, path == null ? "/" : path).replaceAll("^/+", "");
            dirs.put(key, rel.isEmpty() ? m.point() : m.point().resolve(rel));
        }
        return dirs;
    }

    /**
     * Reopens the cgroup of an existing container from the directories {@link CgroupManager#paths()}
     * returned when it was created. Later commands (kill, delete, pause, events, update) must use
     * this: a relative cgroupsPath depends on the cgroup of the capsa process that resolved it.
     */
    public static CgroupManager reopen(CgroupMode mode, Map<String, Path> paths) {
        if (mode == CgroupMode.V2) {
            Path dir = paths.get("");
            if (dir == null || paths.size() != 1) {
                throw new CapsaException("a cgroup v2 container has exactly one cgroup path, found " + paths.keySet());
            }
            Path mount = dir;
            while (mount.getParent() != null && Files.exists(mount.getParent().resolve("cgroup.controllers"))) {
                mount = mount.getParent();
            }
            return new CgroupV2(mount, dir, new CgroupFiles());
        }
        return new CgroupV1(paths, new CgroupFiles());
    }

    /** /proc/self/cgroup as controller -> path; "" is the cgroup2 entry ("0::/a"), "name=systemd" a named one. */
    static Map<String, String> ownCgroups(List<String> lines) {
        Map<String, String> own = new LinkedHashMap<>();
        for (String line : lines) {
            String[] parts = line.split(":", 3);
            if (parts.length < 3) {
                continue;
            }
            if (parts[1].isEmpty()) {
                own.put("", parts[2]);
            } else {
                for (String c : parts[1].split(",")) {
                    own.put(c, parts[2]);
                }
            }
        }
        return own;
    }

    /** A cgroup path from /proc/self/cgroup as seen below a mount whose root is not "/" (a cgroup namespace). */
    private static String seenFrom(Mount m, String path) {
        if (m.root().equals("/") || !path.startsWith(m.root())) {
            return path;
        }
        String rest = path.substring(m.root().length());
        return rest.isEmpty() ? "/" : rest;
    }

    private static Mount parse(String line, Path root) {
        int dash = line.indexOf(" - ");
        if (dash < 0) {
            return null;
        }
        String[] left = line.substring(0, dash).split(" ");
        String[] right = line.substring(dash + 3).split(" ");
        if (left.length < 5 || right.length < 3) {
            return null;
        }
        String type = right[0];
        if (!type.equals("cgroup") && !type.equals("cgroup2")) {
            return null;
        }
        Path point = Path.of(unescape(left[4]));
        if (!point.startsWith(root)) {
            return null;
        }
        List<String> controllers = new ArrayList<>();
        if (type.equals("cgroup")) {
            for (String option : right[2].split(",")) {
                if (V1_CONTROLLERS.contains(option) || option.startsWith("name=")) {
                    controllers.add(option);
                }
            }
        }
        return new Mount(point, unescape(left[3]), type.equals("cgroup2"), controllers);
    }

    /** mountinfo escapes space, tab, newline and backslash as octal (\040). */
    private static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static List<String> readLines(Path file) {
        try {
            return CgroupFiles.readOrThrow(file).lines().toList();
        } catch (IOException e) {
            throw new CapsaException("cannot read " + file + ": " + CgroupFiles.errno(e), e);
        }
    }
}
