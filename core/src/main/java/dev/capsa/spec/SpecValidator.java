package dev.capsa.spec;

import dev.capsa.error.InvalidSpecException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks what the runtime-spec requires of a config.json before anything is set up, and reports
 * the first problem in document order as an {@link InvalidSpecException} pointing at the field.
 * Type errors never get here: {@link SpecLoader} reports them while reading.
 */
public final class SpecValidator {
    // semver 2.0.0, without leading zeros; pre-release and build suffixes allowed
    private static final Pattern SEMVER = Pattern.compile(
            "(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?");
    private static final String SUPPORTED = "capsa supports 1.0.0 to 1.2.x";
    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
    private static final long UINT32_LIMIT = 1L << 32;

    private SpecValidator() {
    }

    /** Validates {@code spec}, resolving a relative root path against {@code bundle}. */
    public static void validate(Spec spec, Path bundle) {
        checkVersion(spec.ociVersion());
        // config.md: process is optional until start, but when present it must be usable
        if (spec.process() != null) {
            checkProcess(spec.process(), "/process");
        }
        checkRoot(spec.root(), bundle);
        checkMounts(spec.mounts());
        checkHooks(spec.hooks());
        if (spec.linux() != null) {
            checkLinux(spec.linux());
        }
    }

    /** Validates the process of {@code capsa exec --process}; pointers are relative to that file. */
    public static void validateProcess(ProcessSpec process) {
        checkProcess(process, "");
    }

    private static void checkVersion(String version) {
        if (version == null || version.isBlank()) {
            throw new InvalidSpecException("/ociVersion", "missing required field");
        }
        Matcher semver = SEMVER.matcher(version);
        if (!semver.matches()) {
            throw new InvalidSpecException("/ociVersion",
                    "\"" + version + "\" is not a semantic version, " + SUPPORTED);
        }
        boolean major1 = semver.group(1).equals("1");
        int minor = semver.group(2).length() > 1 ? Integer.MAX_VALUE : Integer.parseInt(semver.group(2));
        // 1.0.0-rc* predates 1.0.0 (process.capabilities was still an array then)
        boolean beforeOne = minor == 0 && semver.group(3).equals("0") && semver.group(4) != null;
        if (!major1 || minor > 2 || beforeOne) {
            throw new InvalidSpecException("/ociVersion", "unsupported version \"" + version + "\", " + SUPPORTED);
        }
    }

    private static void checkProcess(ProcessSpec process, String at) {
        // config.md: at least one entry is REQUIRED (non-Windows); it is execvp's file
        if (process.args() == null || process.args().isEmpty()) {
            throw new InvalidSpecException(at + "/args", "must have at least one entry");
        }
        requireAbsolute(process.cwd(), at + "/cwd");
        List<ProcessSpec.Rlimit> rlimits = process.rlimits();
        for (int i = 0; rlimits != null && i < rlimits.size(); i++) {
            checkRlimit(rlimits.get(i), at + "/rlimits/" + i);
        }
    }

    private static void checkRlimit(ProcessSpec.Rlimit rlimit, String at) {
        if (rlimit.type() == null) {
            throw new InvalidSpecException(at + "/type", "missing required field");
        }
        if (!rlimit.type().startsWith("RLIMIT_")) {
            throw new InvalidSpecException(at + "/type", "unknown rlimit type \"" + rlimit.type()
                    + "\", expected one of getrlimit(2) such as RLIMIT_NOFILE");
        }
        checkUint64(rlimit.hard(), at + "/hard");
        checkUint64(rlimit.soft(), at + "/soft");
        if (rlimit.soft().compareTo(rlimit.hard()) > 0) {
            throw new InvalidSpecException(at, "soft limit " + rlimit.soft() + " is greater than hard limit "
                    + rlimit.hard());
        }
    }

    private static void checkUint64(BigInteger value, String at) {
        if (value == null) {
            throw new InvalidSpecException(at, "missing required field");
        }
        if (value.signum() < 0 || value.compareTo(UINT64_MAX) > 0) {
            throw new InvalidSpecException(at, "must be between 0 and " + UINT64_MAX + ", got " + value);
        }
    }

    private static void checkRoot(Root root, Path bundle) {
        if (root == null) {
            throw new InvalidSpecException("/root", "missing required field");
        }
        if (root.path() == null || root.path().isEmpty()) {
            throw new InvalidSpecException("/root/path", "missing required field");
        }
        Path path;
        try {
            path = Path.of(root.path());
        } catch (InvalidPathException e) {
            throw new InvalidSpecException("/root/path", "invalid path \"" + root.path() + "\"");
        }
        // config.md: either absolute or relative to the bundle
        Path resolved = path.isAbsolute() ? path : bundle.resolve(path);
        if (!Files.exists(resolved)) {
            throw new InvalidSpecException("/root/path", "root filesystem " + resolved + " does not exist");
        }
        if (!Files.isDirectory(resolved)) {
            throw new InvalidSpecException("/root/path", "root filesystem " + resolved + " is not a directory");
        }
    }

    private static void checkMounts(List<Mount> mounts) {
        for (int i = 0; mounts != null && i < mounts.size(); i++) {
            Mount mount = mounts.get(i);
            String at = "/mounts/" + i;
            // config.md 1.2: relative destinations are deprecated; Capsa does not guess what they meant
            requireAbsolute(mount.destination(), at + "/destination");
            // config.md: uidMappings MUST be specified along with gidMappings
            if ((mount.uidMappings() == null) != (mount.gidMappings() == null)) {
                String missing = mount.uidMappings() == null ? "uidMappings" : "gidMappings";
                String present = mount.uidMappings() == null ? "gidMappings" : "uidMappings";
                throw new InvalidSpecException(at + "/" + missing, "missing, it must be set along with " + present);
            }
            checkMappings(mount.uidMappings(), at + "/uidMappings");
            checkMappings(mount.gidMappings(), at + "/gidMappings");
        }
    }

    private static void checkHooks(Hooks hooks) {
        if (hooks == null) {
            return;
        }
        for (String phase : Hooks.PHASES) {
            List<Hook> list = hooks.of(phase);
            for (int i = 0; i < list.size(); i++) {
                Hook hook = list.get(i);
                String at = "/hooks/" + phase + "/" + i;
                requireAbsolute(hook.path(), at + "/path");
                // config.md: timeout, if set, MUST be greater than zero
                if (hook.timeout() != null && hook.timeout() <= 0) {
                    throw new InvalidSpecException(at + "/timeout", "must be greater than zero, got " + hook.timeout());
                }
            }
        }
    }

    private static void checkLinux(Linux linux) {
        checkMappings(linux.uidMappings(), "/linux/uidMappings");
        checkMappings(linux.gidMappings(), "/linux/gidMappings");
        checkNamespaces(linux.namespaces());
        boolean uids = linux.uidMappings() != null && !linux.uidMappings().isEmpty();
        boolean gids = linux.gidMappings() != null && !linux.gidMappings().isEmpty();
        if ((uids || gids) && !linux.hasNamespace("user")) {
            throw new InvalidSpecException(uids ? "/linux/uidMappings" : "/linux/gidMappings",
                    "mappings need a user namespace, but /linux/namespaces has no \"user\" entry");
        }
    }

    private static void checkNamespaces(List<Linux.Namespace> namespaces) {
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; namespaces != null && i < namespaces.size(); i++) {
            Linux.Namespace ns = namespaces.get(i);
            String at = "/linux/namespaces/" + i;
            if (ns.type() == null) {
                throw new InvalidSpecException(at + "/type", "missing required field");
            }
            if (!Linux.NAMESPACE_TYPES.contains(ns.type())) {
                throw new InvalidSpecException(at + "/type", "unknown namespace type \"" + ns.type()
                        + "\", expected one of " + String.join(", ", Linux.NAMESPACE_TYPES));
            }
            // config-linux.md: duplicated types MUST be an error
            Integer first = seen.putIfAbsent(ns.type(), i);
            if (first != null) {
                throw new InvalidSpecException(at + "/type", "duplicate namespace type \"" + ns.type()
                        + "\", already at /linux/namespaces/" + first);
            }
            // config-linux.md: path MUST be absolute in the runtime mount namespace
            if (ns.path() != null) {
                requireAbsolute(ns.path(), at + "/path");
            }
        }
    }

    /** Ranges the kernel would refuse in uid_map or gid_map: empty, beyond uint32, or overlapping. */
    private static void checkMappings(List<IdMapping> mappings, String at) {
        for (int i = 0; mappings != null && i < mappings.size(); i++) {
            IdMapping mapping = mappings.get(i);
            String entry = at + "/" + i;
            if (mapping.containerID() == null || mapping.hostID() == null || mapping.size() == null) {
                throw new InvalidSpecException(entry, "containerID, hostID and size are all required");
            }
            if (mapping.size() <= 0) {
                throw new InvalidSpecException(entry, "size must be greater than zero, got " + mapping.size());
            }
            checkRange(mapping.containerID(), mapping.size(), entry, "container");
            checkRange(mapping.hostID(), mapping.size(), entry, "host");
            for (int j = 0; j < i; j++) {
                IdMapping other = mappings.get(j);
                if (overlaps(mapping.containerID(), other.containerID(), mapping.size(), other.size())) {
                    throw new InvalidSpecException(entry, "container range " + range(mapping.containerID(), mapping.size())
                            + " overlaps " + at + "/" + j);
                }
                if (overlaps(mapping.hostID(), other.hostID(), mapping.size(), other.size())) {
                    throw new InvalidSpecException(entry, "host range " + range(mapping.hostID(), mapping.size())
                            + " overlaps " + at + "/" + j);
                }
            }
        }
    }

    private static void checkRange(long start, long size, String entry, String side) {
        // each term is checked first so that the sum cannot overflow
        if (start < 0 || start > UINT32_LIMIT || size > UINT32_LIMIT || start + size > UINT32_LIMIT) {
            throw new InvalidSpecException(entry, side + " range " + range(start, size) + " is outside 0-4294967295");
        }
    }

    private static boolean overlaps(long start, long otherStart, long size, long otherSize) {
        return start < otherStart + otherSize && otherStart < start + size;
    }

    private static String range(long start, long size) {
        return start + "-" + (start + size - 1);
    }

    private static void requireAbsolute(String path, String at) {
        if (path == null || path.isEmpty()) {
            throw new InvalidSpecException(at, "missing required field");
        }
        if (!path.startsWith("/")) {
            throw new InvalidSpecException(at, "must be an absolute path, got \"" + path + "\"");
        }
    }
}
