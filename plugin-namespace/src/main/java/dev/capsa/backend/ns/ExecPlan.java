package dev.capsa.backend.ns;

import dev.capsa.os.SeccompProgram;
import dev.capsa.spec.Linux;
import dev.capsa.spi.ExecOptions;
import java.util.ArrayList;
import java.util.List;

/**
 * What capsa-init does for {@code capsa exec}: join every namespace of the container's init
 * (identified by pid and start time, so a reused pid is refused), fork into the pid namespace, and
 * apply the same {@link LaunchPlan.PlanProcess} a create applies, with the same records.
 *
 * @param initPid       the container's init, in the host's pid namespace
 * @param initStartTime its start time in ticks (/proc/PID/stat field 22)
 * @param foreground    capsa-init stays to wait for the process and exits with its status
 * @param cgroup        the container's cgroup.procs files, joined before the namespaces (so the
 *                      process is forked into the container's cgroup), and capsa's own, which a
 *                      foreground capsa-init goes back to after the fork
 */
record ExecPlan(long initPid, long initStartTime, boolean foreground, LaunchPlan.PlanProcess process,
                LaunchPlan.PlanCgroup cgroup, List<String> warnings) {

    /**
     * The plan for {@code options}. {@code sessionKeyring} is the container's ("_ses.ID", as runc
     * joins it for exec too) or null when it was created with --no-new-keyring; {@code seccomp} is
     * the container's filter (runc's setns init loads the container's seccomp for exec'd processes).
     * {@code container} is the container's config.json linux object (its personality and memory
     * policy apply to exec'd processes too, as runc's setns init applies the personality), or null.
     */
    static ExecPlan of(ExecOptions options, long initPid, long initStartTime, String sessionKeyring,
                       LaunchPlan.Caller caller, int lastCap, LaunchPlan.PlanCgroup cgroup, SeccompProgram seccomp,
                       Linux container, HostSecurity security) {
        List<String> warnings = new ArrayList<>();
        LaunchPlan.PlanProcess process = LaunchPlan.process(options.process(), options.consoleSocket(),
                options.detach(), options.preserveFds(), sessionKeyring, caller, lastCap, warnings, seccomp,
                container, security, true);
        return new ExecPlan(initPid, initStartTime, !options.detach(), process, cgroup, List.copyOf(warnings));
    }

    byte[] encode() {
        LaunchPlan.Writer w = new LaunchPlan.Writer();
        w.record("version", "1");
        cgroup.encode(w);
        w.record("join", Long.toString(initPid), Long.toString(initStartTime));
        w.record("foreground", foreground ? "1" : "0");
        LaunchPlan.encodeProcess(w, process);
        LaunchPlan.encodeFault(w);
        w.record("end");
        return w.bytes();
    }
}
