package dev.capsa.os;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class ProcStatTest {
    @Test
    void parsesStartTimeAfterACommWithSpacesAndParens() {
        String stat = "1234 (we ird) (name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assertEquals(OptionalLong.of(987654), ProcStat.parseStartTime(stat));
    }

    @Test
    void zombiesAndGarbageHaveNoStartTime() {
        assertTrue(ProcStat.parseStartTime("1 (x) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0").isEmpty());
        assertTrue(ProcStat.parseStartTime("garbage").isEmpty());
    }

    @Test
    void theStateLetterComesAfterTheLastParenthesis() {
        assertEquals('T', ProcStat.parseState("1234 (we ird) (name)) T 1 1234"));
        assertEquals(0, ProcStat.parseState("garbage"));
        assertEquals(0, ProcStat.state(Path.of("/proc"), Integer.MAX_VALUE));
    }

    @Test
    void readsThisProcessFromProc() {
        long pid = ProcessHandle.current().pid();
        assertTrue(ProcStat.startTime(Path.of("/proc"), pid).isPresent());
        assertTrue(ProcStat.startTime(Path.of("/proc"), Integer.MAX_VALUE).isEmpty());
    }
}
