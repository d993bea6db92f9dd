package dev.capsa.backend.ns.cgroup;

import dev.capsa.spec.Resources;
import java.util.ArrayList;
import java.util.List;

/**
 * The device rules a v1 devices cgroup gets, in order: deny everything, then the spec's
 * linux.resources.devices, then runc's default allow list (libcontainer/specconv
 * AllowedDevices), appended after the user's rules as runc does, so a container can always
 * use the standard devices.
 */
final class DeviceRules {
    /** One write: to devices.allow or devices.deny, e.g. "c 1:3 rwm"; pointer is the spec entry or "". */
    record Rule(boolean allow, String line, String pointer) {
    }

    /** runc's AllowedDevices, as v1 rule lines. */
    static final List<String> RUNC_DEFAULTS = List.of(
            "c *:* m",      // mknod of any character device
            "b *:* m",      // and any block device
            "c 1:3 rwm",    // /dev/null
            "c 1:8 rwm",    // /dev/random
            "c 1:7 rwm",    // /dev/full
            "c 5:0 rwm",    // /dev/tty
            "c 1:5 rwm",    // /dev/zero
            "c 1:9 rwm",    // /dev/urandom
            "c 136:* rwm",  // /dev/pts/*
            "c 5:2 rwm");   // /dev/ptmx

    private DeviceRules() {
    }

    static List<Rule> v1(List<Resources.DeviceRule> spec) {
        List<Rule> rules = new ArrayList<>();
        rules.add(new Rule(false, "a *:* rwm", ""));
        for (int i = 0; i < spec.size(); i++) {
            Resources.DeviceRule d = spec.get(i);
            rules.add(new Rule(Boolean.TRUE.equals(d.allow()), line(d), CgroupResources.DEVICES + "/" + i));
        }
        for (String line : RUNC_DEFAULTS) {
            rules.add(new Rule(true, line, ""));
        }
        return rules;
    }

    /** "TYPE MAJOR:MINOR ACCESS"; unset type, major or minor mean all ("a", "*"). */
    static String line(Resources.DeviceRule d) {
        String type = d.type() == null || d.type().isEmpty() ? "a" : d.type();
        return type + " " + number(d.major()) + ":" + number(d.minor()) + " " + d.access();
    }

    private static String number(Long n) {
        return n == null || n < 0 ? "*" : Long.toString(n);
    }
}
