package dev.capsa.fault;

/**
 * Every point of create, start, exec and delete at which a test can make capsa fail or die
 * ({@link Faults}). A step is reached once per command; FaultInjectionIT runs each of them, so a
 * step added here without a case (or a case without its {@code Faults.at} call) fails it.
 * docs/reliability.md "Faults at every step" has the table.
 */
public enum FaultStep {
    // ---- the engine (core), on both backends
    /** create: the state is written as creating and config.json copied; the backend has made nothing. */
    CREATE_STATE_WRITTEN(Where.ENGINE, Command.CREATE),
    /** create: the prestart and createRuntime hooks (config.json's and the plugins') have run. */
    CREATE_RUNTIME_HOOKS_RUN(Where.ENGINE, Command.CREATE),
    /** create: the hook plugins of createContainer have run on the host. */
    CREATE_CONTAINER_HOOKS_RUN(Where.ENGINE, Command.CREATE),
    /** create: the state says created; the pid file is not written yet. */
    CREATE_DONE_WRITTEN(Where.ENGINE, Command.CREATE),
    /** start: the hook plugins of startContainer have run; the process is not released yet. */
    START_CONTAINER_HOOKS_RUN(Where.ENGINE, Command.START),
    /** start: the backend released the process; poststart has not run. */
    START_RELEASED(Where.ENGINE, Command.START),
    /** start: the poststart hooks have run. */
    START_POSTSTART_RUN(Where.ENGINE, Command.START),
    /** exec: the container was found created or running, under its lock; the backend has done nothing. */
    EXEC_CHECKED(Where.ENGINE, Command.EXEC),
    /** delete: the backend removed the container (processes, cgroup, guest); poststop has not run. */
    DELETE_BACKEND_DONE(Where.ENGINE, Command.DELETE),
    /** delete: the poststop hooks have run; the state directory is still there. */
    DELETE_POSTSTOP_RUN(Where.ENGINE, Command.DELETE),

    // ---- the ns backend's Java side (plugin-namespace)
    /** create: the container's cgroup exists (recorded in the state first); no limit written yet. */
    NS_CGROUP_MADE(Where.NS, Command.CREATE),
    /** create: capsa-init runs and connected to the control socket; it has no plan yet. */
    NS_INIT_CONNECTED(Where.NS, Command.CREATE),
    /** create: the container's init was cloned and its pid recorded in the state. */
    NS_PID_RECORDED(Where.NS, Command.CREATE),
    /** create: the namespaces and mounts exist, capsa-init waits before pivot_root (createRuntime's point). */
    NS_SYNC_REACHED(Where.NS, Command.CREATE),
    /** create: capsa-init reported the process ready; it waits on the exec fifo. */
    NS_READY(Where.NS, Command.CREATE),
    /** start: the exec fifo is opened for reading (the init's open for writing returns); nothing read yet. */
    NS_FIFO_OPENED(Where.NS, Command.START),
    /** exec: capsa-init runs and connected to the control socket; it has no plan yet. */
    NS_EXEC_CONNECTED(Where.NS, Command.EXEC),
    /** exec: the exec'd process was forked in the container; the pid file is not written yet. */
    NS_EXEC_STARTED(Where.NS, Command.EXEC),
    /** delete: the container's processes are gone; its cgroup is still there. */
    NS_DELETE_KILLED(Where.NS, Command.DELETE),
    /** delete: the cgroup is removed; the exec fifo and exit file are still there. */
    NS_DELETE_CGROUP_REMOVED(Where.NS, Command.DELETE),

    // ---- capsa-init (plugin-namespace/src/main/c), armed through the launch plan
    /** stage 0: the exec fifo was made; no cgroup joined, no clone. */
    INIT_FIFO_MADE(Where.INIT, Command.CREATE),
    /** stage 0: it joined the container's cgroup (and the namespaces given by path). */
    INIT_CGROUP_JOINED(Where.INIT, Command.CREATE),
    /** stage 0: the init is cloned into its new namespaces and its pid reported. */
    INIT_CLONED(Where.INIT, Command.CREATE),
    /** the init: in its namespaces, root of its user namespace; no mount made. */
    INIT_NAMESPACES_ENTERED(Where.INIT, Command.CREATE),
    /** the init: the rootfs and every mount, device and link are in place; before createRuntime. */
    INIT_MOUNTS_DONE(Where.INIT, Command.CREATE),
    /** the init: after pivot_root (and the createContainer hooks). */
    INIT_PIVOTED(Where.INIT, Command.CREATE),
    /** the init: credentials, capabilities and seccomp are set; "ready" is not sent yet. */
    INIT_PROCESS_READY(Where.INIT, Command.CREATE),
    /** the init, during start: its open of the exec fifo returned; "0" is not written yet. Armed by create. */
    INIT_FIFO_OPENED(Where.INIT, Command.START),
    /** exec's capsa-init: it joined the container's cgroup and namespaces; no fork yet. */
    INIT_EXEC_JOINED(Where.INIT, Command.EXEC),
    /** exec's capsa-init: the process is forked and its pid reported. */
    INIT_EXEC_FORKED(Where.INIT, Command.EXEC),

    // ---- the vm backend (plugin-vm)
    /** create: QEMU runs; its pid is not recorded yet. */
    VM_QEMU_LAUNCHED(Where.VM, Command.CREATE),
    /** create: QEMU's pid is recorded; the guest has not answered yet. */
    VM_PID_RECORDED(Where.VM, Command.CREATE),
    /** create: the guest booted and its agent said hello. */
    VM_GUEST_BOOTED(Where.VM, Command.CREATE),
    /** create: the agent made the container's process, which waits for start. */
    VM_AGENT_CREATED(Where.VM, Command.CREATE),
    /** start: the state says started; the agent has not been asked yet. */
    VM_START_MARKED(Where.VM, Command.START),
    /** exec: an exec slot is taken; the agent has not been asked yet. */
    VM_EXEC_SLOT_TAKEN(Where.VM, Command.EXEC),
    /** delete: the agent acknowledged the power-off; QEMU may still be there. */
    VM_POWER_OFF_SENT(Where.VM, Command.DELETE);

    /** Which code reaches the step. */
    public enum Where {
        /** the engine in core: both backends reach it */
        ENGINE,
        /** the ns backend's Java code */
        NS,
        /** capsa-init, the ns backend's C helper */
        INIT,
        /** the vm backend */
        VM;

        public boolean reachedBy(String backend) {
            return this == ENGINE || (backend.equals("ns") ? this == NS || this == INIT : this == VM);
        }
    }

    /** The command during which the step is reached. */
    public enum Command {
        CREATE, START, EXEC, DELETE
    }

    private final Where where;
    private final Command command;

    FaultStep(Where where, Command command) {
        this.where = where;
        this.command = command;
    }

    public Where where() {
        return where;
    }

    public Command command() {
        return command;
    }

    /**
     * The command whose environment must carry the switch: the one that reaches the step, but
     * capsa-init's init reads its plan at create, so its steps during start are armed by create.
     */
    public Command armedBy() {
        return where == Where.INIT && command == Command.START ? Command.CREATE : command;
    }

    /** The name used in {@code CAPSA_FAULT} and by capsa-init: lower case, with dashes. */
    public String key() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }
}
