package dev.capsa.os;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capsa.error.CapsaException;
import org.junit.jupiter.api.Test;

class SignalsTest {
    @Test
    void namesNumbersAndPrefixes() {
        assertEquals(15, Signals.parse("TERM"));
        assertEquals(15, Signals.parse("SIGTERM"));
        assertEquals(15, Signals.parse("sigterm"));
        assertEquals(9, Signals.parse("9"));
        assertEquals(10, Signals.parse("USR1"));
        assertEquals(34, Signals.parse("RTMIN"));
        assertEquals(36, Signals.parse("SIGRTMIN+2"));
        assertEquals(63, Signals.parse("RTMAX-1"));
        assertEquals("SIGKILL", Signals.name(9));
    }

    @Test
    void rejectsWhatIsNotASignal() {
        for (String bad : new String[] {"0", "65", "SIGNOPE", "", "RTMIN+40", "-1"}) {
            CapsaException e = assertThrows(CapsaException.class, () -> Signals.parse(bad), bad);
            assertEquals("invalid signal \"" + bad + "\"", e.getMessage());
        }
    }
}
