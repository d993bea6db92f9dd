package dev.capsa.backend.ns;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Which Linux security modules the host has enabled, and whether the resctrl filesystem (Intel RDT)
 * is mounted. The ns backend applies an AppArmor profile or SELinux label only where the module is
 * enabled; elsewhere it refuses them as runc does.
 *
 * @param apparmor as runc's apparmor.IsEnabled: /sys/kernel/security/apparmor exists and the
 *                 module's parameter {@code enabled} is Y
 * @param selinux  as go-selinux: selinuxfs is mounted at /sys/fs/selinux (its {@code enforce} file)
 * @param resctrl  /sys/fs/resctrl is a mounted resctrl (its root has {@code schemata})
 */
record HostSecurity(boolean apparmor, boolean selinux, boolean resctrl) {
    static final HostSecurity NONE = new HostSecurity(false, false, false);

    /** The host's, read under {@code sys} (normally /sys). */
    static HostSecurity probe(Path sys) {
        boolean apparmor = false;
        if (Files.exists(sys.resolve("kernel/security/apparmor"))) {
            try {
                apparmor = Files.readString(sys.resolve("module/apparmor/parameters/enabled")).startsWith("Y");
            } catch (IOException e) {
                apparmor = false;
            }
        }
        return new HostSecurity(apparmor, Files.exists(sys.resolve("fs/selinux/enforce")),
                Files.exists(sys.resolve("fs/resctrl/schemata")));
    }
}
