package dev.capsa.fault;

import dev.capsa.error.CapsaException;
import dev.capsa.os.Caller;
import dev.capsa.os.LinuxOs;
import dev.capsa.os.Signals;
import java.util.Optional;

/**
 * The fault-injection switch, for tests only: {@code CAPSA_FAULT=STEP:ACTION} in the environment
 * of one command makes it fail ({@code fail}) or SIGKILL itself ({@code kill}) at {@link FaultStep}
 * STEP ({@link FaultStep#key()}, e.g. {@code ns-pid-recorded:kill}). Without the variable
 * {@link #at} is a map lookup and a compare. Under the capsa server the variable is the client's
 * (each command has its own environment); {@code kill} then kills the server, the process that
 * does the command's work. capsa-init's steps reach it in the launch plan ({@link #planned}),
 * never in an environment, so the variable cannot reach a container.
 */
public final class Faults {
    public static final String ENV = "CAPSA_FAULT";

    /** What to do at the step. */
    public enum Action {
        FAIL, KILL;

        public String key() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** A parsed {@code STEP:ACTION}. */
    public record Fault(FaultStep step, Action action) {
        public String text() {
            return step.key() + ":" + action.key();
        }
    }

    private Faults() {
    }

    /** The fault this command's caller asked for, if any; a value that names no step is an error. */
    public static Optional<Fault> planned() {
        String value = Caller.env(ENV);
        if (value == null || value.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(parse(value));
    }

    static Fault parse(String value) {
        int colon = value.lastIndexOf(':');
        String step = colon < 0 ? value : value.substring(0, colon);
        String action = colon < 0 ? "fail" : value.substring(colon + 1);
        for (FaultStep s : FaultStep.values()) {
            if (s.key().equals(step)) {
                for (Action a : Action.values()) {
                    if (a.key().equals(action)) {
                        return new Fault(s, a);
                    }
                }
                throw new CapsaException(ENV + "=" + value + ": the action must be fail or kill");
            }
        }
        throw new CapsaException(ENV + "=" + value + ": no such step (see docs/reliability.md)");
    }

    /** The step is reached: fails or dies here if the caller asked for it. */
    public static void at(FaultStep step) {
        String value = Caller.env(ENV);
        if (value == null || value.isEmpty() || !value.startsWith(step.key() + ":") && !value.equals(step.key())) {
            return;
        }
        Fault fault = parse(value);
        if (fault.action() == Action.KILL) {
            System.err.flush();
            new LinuxOs().kill(ProcessHandle.current().pid(), Signals.SIGKILL);
            // SIGKILL cannot be caught; the thread must not go on while it is delivered
            while (true) {
                Thread.onSpinWait();
            }
        }
        throw new CapsaException("fault injected at step " + step.key());
    }

    /** The fault for one of capsa-init's steps, which the launch plan carries to it. */
    public static Optional<Fault> forInit() {
        return planned().filter(f -> f.step().where() == FaultStep.Where.INIT);
    }
}
