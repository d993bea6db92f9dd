package dev.capsa.fault;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.CapsaException;
import dev.capsa.os.Caller;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class FaultsTest {
    @AfterEach
    void unbind() {
        Caller.bind(null);
    }

    private static void env(Map<String, String> env) {
        Caller.bind(new Caller(env, Path.of("/"), ProcessHandle.current().pid(),
                Caller.current().launcher()));
    }

    @Test
    void withoutTheVariableNoStepFails() {
        env(Map.of());
        for (FaultStep step : FaultStep.values()) {
            Faults.at(step);
        }
        assertEquals(Optional.empty(), Faults.planned());
    }

    @Test
    void failThrowsAtTheNamedStepOnly() {
        env(Map.of(Faults.ENV, "ns-pid-recorded:fail"));
        Faults.at(FaultStep.NS_READY);
        Faults.at(FaultStep.CREATE_STATE_WRITTEN);
        CapsaException e = assertThrows(CapsaException.class, () -> Faults.at(FaultStep.NS_PID_RECORDED));
        assertEquals("fault injected at step ns-pid-recorded", e.getMessage());
    }

    @Test
    void aStepAloneMeansFail() {
        env(Map.of(Faults.ENV, "start-released"));
        assertThrows(CapsaException.class, () -> Faults.at(FaultStep.START_RELEASED));
    }

    @Test
    void initStepsGoToThePlanNotToJava() {
        env(Map.of(Faults.ENV, "init-pivoted:kill"));
        assertEquals(Optional.of(new Faults.Fault(FaultStep.INIT_PIVOTED, Faults.Action.KILL)), Faults.forInit());
        env(Map.of(Faults.ENV, "ns-ready:kill"));
        assertEquals(Optional.empty(), Faults.forInit());
    }

    @Test
    void aValueThatNamesNoStepOrActionIsAnError() {
        env(Map.of(Faults.ENV, "no-such-step:fail"));
        assertTrue(assertThrows(CapsaException.class, Faults::planned).getMessage().contains("no such step"));
        env(Map.of(Faults.ENV, "ns-ready:explode"));
        assertTrue(assertThrows(CapsaException.class, () -> Faults.at(FaultStep.NS_READY)).getMessage()
                .contains("the action must be fail or kill"));
    }

    @Test
    void keysAreUniqueAndNoneIsAPrefixOfAnotherWithTheColon() {
        Set<String> keys = new HashSet<>();
        for (FaultStep step : FaultStep.values()) {
            assertTrue(keys.add(step.key()), step.key());
            assertTrue(step.key().matches("[a-z][a-z-]+"), step.key());
        }
    }
}
