package dev.capsa.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** Only the named subcommand is built: the lookup must find the name where picocli would. */
class SubcommandLookupTest {
    private static Class<?> lookup(String... args) {
        return CapsaCommand.subcommand(args);
    }

    @Test
    void theFirstWordAfterTheRootOptionsNamesIt() {
        assertEquals(StateCommand.class, lookup("state", "c1"));
        assertEquals(StateCommand.class, lookup("--root", "/run/x", "--log", "state", "state", "c1"));
        assertEquals(RunCommand.class, lookup("--root=/run/x", "--debug", "--systemd-cgroup", "run", "-b", "b", "c1"));
        assertEquals(DeleteCommand.class, lookup("--log-format", "json", "--backend", "vm", "--plugins", "p",
                "--config", "c", "delete", "--force", "x"));
        assertEquals(ListCommand.class, lookup("ls"));
        assertEquals(ExecCommand.class, lookup("exec", "c1", "run", "state"));
    }

    @Test
    void noNameOrAnUnknownOneBuildsThemAll() {
        assertNull(lookup());
        assertNull(lookup("--version"));
        assertNull(lookup("bogus", "state"));
        assertNull(lookup("--", "state"));
        assertNull(lookup("--root", "state"));
    }

    @Test
    void everySubcommandIsFoundByItsName() {
        for (Class<?> type : CapsaCommand.SUBCOMMANDS) {
            String name = type.getAnnotation(picocli.CommandLine.Command.class).name();
            assertEquals(type, lookup("--root", "/r", name), name);
        }
    }
}
