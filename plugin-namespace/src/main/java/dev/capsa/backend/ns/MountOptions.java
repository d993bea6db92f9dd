package dev.capsa.backend.ns;

import dev.capsa.error.InvalidSpecException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * config.md mount options turned into mount(2) arguments the way runc's specconv does: flags
 * set or cleared, propagation changes applied after the mount, bind/rbind, and whatever else is
 * left goes to the filesystem as its data string. {@code copyUp} is runc's {@code tmpcopyup}
 * extension: a tmpfs gets a copy of what the image has at its destination.
 */
record MountOptions(long flags, long propagation, boolean bind, String data, boolean copyUp, long recSet,
                    long recClr) {
    MountOptions(long flags, long propagation, boolean bind, String data, boolean copyUp) {
        this(flags, propagation, bind, data, copyUp, 0, 0);
    }

    static final long MS_RDONLY = 1;
    static final long MS_NOSUID = 2;
    static final long MS_NODEV = 4;
    static final long MS_NOEXEC = 8;
    static final long MS_SYNCHRONOUS = 16;
    static final long MS_MANDLOCK = 64;
    static final long MS_DIRSYNC = 128;
    static final long MS_NOSYMFOLLOW = 256;
    static final long MS_NOATIME = 1024;
    static final long MS_NODIRATIME = 2048;
    static final long MS_BIND = 4096;
    static final long MS_REC = 16384;
    static final long MS_SILENT = 32768;
    static final long MS_UNBINDABLE = 1L << 17;
    static final long MS_PRIVATE = 1L << 18;
    static final long MS_SLAVE = 1L << 19;
    static final long MS_SHARED = 1L << 20;
    static final long MS_RELATIME = 1L << 21;
    static final long MS_I_VERSION = 1L << 23;
    static final long MS_STRICTATIME = 1L << 24;
    static final long MS_LAZYTIME = 1L << 25;

    /** option -> {flag, 1 to set or 0 to clear} */
    private static final Map<String, long[]> FLAGS = Map.ofEntries(
            Map.entry("async", new long[] {MS_SYNCHRONOUS, 0}),
            Map.entry("atime", new long[] {MS_NOATIME, 0}),
            Map.entry("defaults", new long[] {0, 1}),
            Map.entry("dev", new long[] {MS_NODEV, 0}),
            Map.entry("diratime", new long[] {MS_NODIRATIME, 0}),
            Map.entry("dirsync", new long[] {MS_DIRSYNC, 1}),
            Map.entry("exec", new long[] {MS_NOEXEC, 0}),
            Map.entry("iversion", new long[] {MS_I_VERSION, 1}),
            Map.entry("lazytime", new long[] {MS_LAZYTIME, 1}),
            Map.entry("loud", new long[] {MS_SILENT, 0}),
            Map.entry("mand", new long[] {MS_MANDLOCK, 1}),
            Map.entry("noatime", new long[] {MS_NOATIME, 1}),
            Map.entry("nodev", new long[] {MS_NODEV, 1}),
            Map.entry("nodiratime", new long[] {MS_NODIRATIME, 1}),
            Map.entry("noexec", new long[] {MS_NOEXEC, 1}),
            Map.entry("noiversion", new long[] {MS_I_VERSION, 0}),
            Map.entry("nolazytime", new long[] {MS_LAZYTIME, 0}),
            Map.entry("nomand", new long[] {MS_MANDLOCK, 0}),
            Map.entry("norelatime", new long[] {MS_RELATIME, 0}),
            Map.entry("nostrictatime", new long[] {MS_STRICTATIME, 0}),
            Map.entry("nosuid", new long[] {MS_NOSUID, 1}),
            Map.entry("nosymfollow", new long[] {MS_NOSYMFOLLOW, 1}),
            Map.entry("relatime", new long[] {MS_RELATIME, 1}),
            Map.entry("ro", new long[] {MS_RDONLY, 1}),
            Map.entry("rw", new long[] {MS_RDONLY, 0}),
            Map.entry("silent", new long[] {MS_SILENT, 1}),
            Map.entry("strictatime", new long[] {MS_STRICTATIME, 1}),
            Map.entry("suid", new long[] {MS_NOSUID, 0}),
            Map.entry("sync", new long[] {MS_SYNCHRONOUS, 1}));

    static final Map<String, Long> PROPAGATION = Map.of(
            "private", MS_PRIVATE, "rprivate", MS_PRIVATE | MS_REC,
            "shared", MS_SHARED, "rshared", MS_SHARED | MS_REC,
            "slave", MS_SLAVE, "rslave", MS_SLAVE | MS_REC,
            "unbindable", MS_UNBINDABLE, "runbindable", MS_UNBINDABLE | MS_REC);

    static final long MOUNT_ATTR_RDONLY = 0x1;
    static final long MOUNT_ATTR_NOSUID = 0x2;
    static final long MOUNT_ATTR_NODEV = 0x4;
    static final long MOUNT_ATTR_NOEXEC = 0x8;
    static final long MOUNT_ATTR__ATIME = 0x70;
    static final long MOUNT_ATTR_RELATIME = 0;
    static final long MOUNT_ATTR_NOATIME = 0x10;
    static final long MOUNT_ATTR_STRICTATIME = 0x20;
    static final long MOUNT_ATTR_NODIRATIME = 0x80;
    static final long MOUNT_ATTR_NOSYMFOLLOW = 0x200000;

    /**
     * The recursive options (runc's, mount_setattr with AT_RECURSIVE after the mount): option ->
     * {attributes to set, attributes to clear}. The atime ones clear the whole atime field and set
     * one mode, as the kernel requires; "ratime", "rnorelatime" and "rnostrictatime" go back to
     * relatime, the kernel's default.
     */
    private static final Map<String, long[]> RECURSIVE = Map.ofEntries(
            Map.entry("rro", new long[] {MOUNT_ATTR_RDONLY, 0}),
            Map.entry("rrw", new long[] {0, MOUNT_ATTR_RDONLY}),
            Map.entry("rnosuid", new long[] {MOUNT_ATTR_NOSUID, 0}),
            Map.entry("rsuid", new long[] {0, MOUNT_ATTR_NOSUID}),
            Map.entry("rnodev", new long[] {MOUNT_ATTR_NODEV, 0}),
            Map.entry("rdev", new long[] {0, MOUNT_ATTR_NODEV}),
            Map.entry("rnoexec", new long[] {MOUNT_ATTR_NOEXEC, 0}),
            Map.entry("rexec", new long[] {0, MOUNT_ATTR_NOEXEC}),
            Map.entry("rnodiratime", new long[] {MOUNT_ATTR_NODIRATIME, 0}),
            Map.entry("rdiratime", new long[] {0, MOUNT_ATTR_NODIRATIME}),
            Map.entry("rrelatime", new long[] {MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}),
            Map.entry("rnorelatime", new long[] {MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}),
            Map.entry("rnoatime", new long[] {MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME}),
            Map.entry("ratime", new long[] {MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}),
            Map.entry("rstrictatime", new long[] {MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME}),
            Map.entry("rnostrictatime", new long[] {MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}),
            Map.entry("rnosymfollow", new long[] {MOUNT_ATTR_NOSYMFOLLOW, 0}),
            Map.entry("rsymfollow", new long[] {0, MOUNT_ATTR_NOSYMFOLLOW}));

    /** Options that need idmapped mounts or are not done: refused, not ignored. */
    private static final List<String> NOT_YET = List.of("idmap", "ridmap", "remount", "bind-nofollow");

    /** Every option name the ns backend acts on, for features.md. */
    static List<String> supported() {
        List<String> all = new ArrayList<>(FLAGS.keySet());
        all.addAll(PROPAGATION.keySet());
        all.addAll(RECURSIVE.keySet());
        all.add("bind");
        all.add("rbind");
        all.add("tmpcopyup");
        all.sort(null);
        return all;
    }

    static MountOptions parse(List<String> options, String type, String pointer) {
        long flags = 0;
        long propagation = 0;
        boolean bind = "bind".equals(type) || "rbind".equals(type);
        if ("rbind".equals(type)) {
            flags |= MS_REC;
        }
        List<String> data = new ArrayList<>();
        boolean copyUp = false;
        long recSet = 0;
        long recClr = 0;
        for (int i = 0; options != null && i < options.size(); i++) {
            String option = options.get(i);
            long[] flag = FLAGS.get(option);
            long[] recursive = RECURSIVE.get(option);
            if (recursive != null) {
                // a later option wins over an earlier one, as with the plain flags
                recSet = (recSet & ~recursive[1] & ~recursive[0]) | recursive[0];
                recClr = (recClr & ~recursive[0] & ~recursive[1]) | recursive[1];
            } else if (flag != null) {
                flags = flag[1] == 1 ? flags | flag[0] : flags & ~flag[0];
            } else if (PROPAGATION.containsKey(option)) {
                propagation |= PROPAGATION.get(option);
            } else if (option.equals("bind")) {
                bind = true;
            } else if (option.equals("rbind")) {
                bind = true;
                flags |= MS_REC;
            } else if (option.equals("tmpcopyup")) {
                if (!"tmpfs".equals(type)) {
                    throw new InvalidSpecException(pointer + "/options/" + i, "mount option \"tmpcopyup\" is only"
                            + " for a tmpfs");
                }
                copyUp = true;
            } else if (option.equals("notmpcopyup")) {
                copyUp = false; // podman's opt-out; runc's specconv knows it too
            } else if (NOT_YET.contains(option)) {
                throw new InvalidSpecException(pointer + "/options/" + i,
                        "mount option \"" + option + "\" is not supported by the ns backend yet");
            } else {
                data.add(option);
            }
        }
        return new MountOptions(flags, propagation, bind, String.join(",", data), copyUp, recSet, recClr);
    }
}
