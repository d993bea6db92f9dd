package dev.capsa.spec;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The config.json of {@code capsa spec}: what runc's {@code runc spec} writes (specconv's
 * Example and ToRootless), with Capsa's spec version and hostname.
 */
public final class DefaultSpec {
    /** The runtime-spec version Capsa implements and writes into new configs. */
    public static final String OCI_VERSION = "1.2.1";
    /** The oldest config.json version Capsa accepts (SpecValidator), for features.md ociVersionMin. */
    public static final String OCI_VERSION_MIN = "1.0.0";

    private static final List<String> CAPABILITIES = List.of("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE");

    private DefaultSpec() {
    }

    /** runc's example spec; {@code cgroupNamespace} adds a cgroup namespace, as runc does on cgroup v2. */
    public static Spec example(boolean cgroupNamespace) {
        ProcessSpec process = new ProcessSpec(
                true, null, new ProcessSpec.User(0, 0), List.of("sh"), null,
                List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"),
                "/",
                new ProcessSpec.Capabilities(CAPABILITIES, CAPABILITIES, null, CAPABILITIES, null, null),
                List.of(new ProcessSpec.Rlimit("RLIMIT_NOFILE", 1024, 1024)),
                true, null, null, null, null, null, null, null);
        List<Mount> mounts = List.of(
                new Mount("/proc", "proc", "proc", null),
                new Mount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "strictatime", "mode=755", "size=65536k")),
                new Mount("/dev/pts", "devpts", "devpts",
                        List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
                new Mount("/dev/shm", "tmpfs", "shm", List.of("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")),
                new Mount("/dev/mqueue", "mqueue", "mqueue", List.of("nosuid", "noexec", "nodev")),
                new Mount("/sys", "sysfs", "sysfs", List.of("nosuid", "noexec", "nodev", "ro")),
                new Mount("/sys/fs/cgroup", "cgroup", "cgroup", List.of("nosuid", "noexec", "nodev", "relatime", "ro")));
        List<Linux.Namespace> namespaces = new ArrayList<>(List.of(new Linux.Namespace("pid"),
                new Linux.Namespace("network"), new Linux.Namespace("ipc"), new Linux.Namespace("uts"),
                new Linux.Namespace("mount")));
        if (cgroupNamespace) {
            namespaces.add(new Linux.Namespace("cgroup"));
        }
        Resources resources = new Resources(
                List.of(new Resources.DeviceRule(false, null, null, null, "rwm", null)),
                null, null, null, null, null, null, null, null, null);
        Linux linux = new Linux(null, null, null, resources, null, namespaces, null, null, null, null,
                List.of("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                        "/proc/scsi", "/sys/devices/virtual/tpm"),
                List.of("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"),
                null, null, null, null, null, null);
        return new Spec(OCI_VERSION, process, new Root("rootfs", true), "capsa", null, mounts, null, null, linux,
                null, null, null, null, null);
    }

    /**
     * What runc's ToRootless does for {@code runc spec --rootless}: a user namespace mapping
     * {@code uid} and {@code gid} to root, no network namespace, /sys bound from the host (sysfs
     * cannot be mounted without owning the network namespace), no uid=/gid= mount options (those
     * ids are not mapped) and no cgroup resources (an unprivileged user may not own the cgroup).
     */
    public static Spec rootless(Spec spec, long uid, long gid) {
        Linux linux = spec.linux();
        if (linux == null) {
            throw new IllegalArgumentException("spec has no linux section to make rootless");
        }
        List<Linux.Namespace> namespaces = new ArrayList<>();
        if (linux.namespaces() != null) {
            for (Linux.Namespace ns : linux.namespaces()) {
                if (!"network".equals(ns.type()) && !"user".equals(ns.type())) {
                    namespaces.add(ns);
                }
            }
        }
        namespaces.add(new Linux.Namespace("user"));
        Linux rootlessLinux = linux.withNamespaces(namespaces)
                .withIdMappings(List.of(new IdMapping(0, uid, 1)), List.of(new IdMapping(0, gid, 1)))
                .withResources(null);

        List<Mount> mounts = null;
        if (spec.mounts() != null) {
            mounts = new ArrayList<>();
            for (Mount mount : spec.mounts()) {
                if ("/sys".equals(clean(mount.destination()))) {
                    mounts.add(new Mount("/sys", "none", "/sys", List.of("rbind", "nosuid", "noexec", "nodev", "ro")));
                    continue;
                }
                mounts.add(mount.withOptions(withoutIdOptions(mount.options())));
            }
        }
        return spec.withLinux(rootlessLinux).withMounts(mounts);
    }

    /** Whether the host runs cgroup v2 alone, the case where runc's example adds a cgroup namespace. */
    public static boolean hostHasUnifiedCgroup() {
        return Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"));
    }

    private static List<String> withoutIdOptions(List<String> options) {
        if (options == null) {
            return null;
        }
        List<String> kept = options.stream()
                .filter(option -> !option.startsWith("uid=") && !option.startsWith("gid="))
                .toList();
        // like runc, a list left empty is dropped rather than written as []
        return kept.isEmpty() ? null : kept;
    }

    /** Go's filepath.Clean, near enough for comparing against "/sys". */
    private static String clean(String path) {
        if (path == null) {
            return null;
        }
        try {
            return Path.of(path).normalize().toString();
        } catch (InvalidPathException e) {
            return path;
        }
    }
}
