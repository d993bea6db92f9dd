package dev.capsa.backend.ns;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.capsa.fault.FaultStep;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** capsa-init's fault points and FaultStep's INIT_* steps are the same set: FaultInjectionIT runs each. */
class InitFaultStepsTest {
    @Test
    void everyFaultPointOfCapsaInitIsAStepAndEveryInitStepHasOne() throws Exception {
        String source = Files.readString(Path.of("src/main/c/capsa-init.c"));
        Set<String> inC = new TreeSet<>();
        Matcher m = Pattern.compile("fault_at\\(\"([a-z-]+)\"\\)").matcher(source);
        while (m.find()) {
            inC.add(m.group(1));
        }
        Set<String> inJava = Arrays.stream(FaultStep.values()).filter(s -> s.where() == FaultStep.Where.INIT)
                .map(FaultStep::key).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(inJava, inC);
    }
}
