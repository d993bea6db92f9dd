package dev.capsa.spi;

/** The hook points of config.md, in the order a container passes them. */
public enum HookPhase {
    /** Deprecated by the spec but still honoured; runs with createRuntime, before it. */
    PRESTART("prestart", true),
    CREATE_RUNTIME("createRuntime", true),
    CREATE_CONTAINER("createContainer", true),
    START_CONTAINER("startContainer", true),
    POSTSTART("poststart", false),
    POSTSTOP("poststop", false);

    private final String specName;
    private final boolean fatal;

    HookPhase(String specName, boolean fatal) {
        this.specName = specName;
        this.fatal = fatal;
    }

    /** The name of the phase's array in config.json's {@code hooks}. */
    public String specName() {
        return specName;
    }

    /** config.md: a failing hook of this phase stops the lifecycle; otherwise it is only logged. */
    public boolean fatal() {
        return fatal;
    }

    /** Whether config.md runs this phase's hooks in the container's namespaces rather than the runtime's. */
    public boolean insideContainer() {
        return this == CREATE_CONTAINER || this == START_CONTAINER;
    }
}
