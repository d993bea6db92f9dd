package dev.capsa.backend.vm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.backend.vm.AgentException;
import dev.capsa.backend.vm.GuestAgent;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AgentClientTest {
    @TempDir
    Path tmp;

    private AgentClient connect(Path socket) {
        return AgentClient.connect(socket, Duration.ofSeconds(2), Duration.ofSeconds(2));
    }

    @Test
    void theLifecycleOverOneConnectionPerCommand() throws Exception {
        Path socket = tmp.resolve("ctl.sock");
        try (FakeAgent fake = new FakeAgent(socket)) {
            try (AgentClient agent = connect(socket)) {
                assertEquals(new GuestAgent.Hello(GuestAgent.State.BOOTED, null), agent.hello());
                assertEquals(7, agent.create(List.of(List.of("arg", "echo"), List.of("arg", "hello world"),
                        List.of("env", ""))));
            }
            try (AgentClient agent = connect(socket)) { // a later command, as capsa start
                assertEquals(GuestAgent.State.CREATED, agent.hello().state());
                agent.start();
                agent.signal(15);
            }
            try (AgentClient agent = connect(socket)) {
                agent.hello();
                fake.exitCode = 3;
                assertEquals(new GuestAgent.Exit(3, 6, 0), agent.awaitExit());
                agent.powerOff();
            }
            try (AgentClient agent = connect(socket)) {
                assertEquals(new GuestAgent.Hello(GuestAgent.State.EXITED, new GuestAgent.Exit(3, 6, 0)),
                        agent.hello());
            }
            assertEquals(List.of(List.of("hello", "1"), List.of("arg", "echo"), List.of("arg", "hello world"),
                    List.of("env", ""), List.of("create"), List.of("hello", "1"), List.of("start"),
                    List.of("signal", "15"), List.of("hello", "1"), List.of("wait"), List.of("poweroff"),
                    List.of("hello", "1")), fake.received);
        }
    }

    @Test
    void helloSkipsWhatAnEarlierConnectionLeftUnread() throws Exception {
        Path socket = tmp.resolve("ctl.sock");
        try (FakeAgent fake = new FakeAgent(socket); AgentClient agent = connect(socket)) {
            fake.staleLine = "exit 0 10 0";
            fake.state = "running";
            assertEquals(GuestAgent.State.RUNNING, agent.hello().state());
        }
    }

    @Test
    void anAgentErrorNamesTheStepAndErrno() throws Exception {
        Path socket = tmp.resolve("ctl.sock");
        try (FakeAgent fake = new FakeAgent(socket); AgentClient agent = connect(socket)) {
            fake.failOn = "mount";
            agent.hello();
            AgentException e = assertThrows(AgentException.class,
                    () -> agent.create(List.of(List.of("mount", "proc", "/proc", "proc", "0", ""))));
            assertEquals("mount", e.step());
            assertEquals(2, e.errno());
            assertEquals("mount failed with errno 2: proc on /proc", e.getMessage());
        }
    }

    @Test
    void aSilentAgentTimesOutInsteadOfHanging() throws Exception {
        Path socket = tmp.resolve("ctl.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            try (AgentClient agent = AgentClient.connect(socket, Duration.ofSeconds(1), Duration.ofMillis(200))) {
                AgentException e = assertThrows(AgentException.class, agent::hello);
                assertTrue(e.getMessage().contains("did not answer within 200 ms"), e.getMessage());
                assertEquals("", e.step());
            }
        }
    }

    @Test
    void noSocketMeansABoundedConnectFailure() {
        AgentException e = assertThrows(AgentException.class,
                () -> AgentClient.connect(tmp.resolve("none.sock"), Duration.ofMillis(100), Duration.ofSeconds(1)));
        assertTrue(e.getMessage().startsWith("cannot connect to the guest agent at "), e.getMessage());
    }

    @Test
    void wordsAreEscapedBothWays() {
        assertEquals("a%20b%25c%0A%C3%A9", Wire.escape("a b%c\né"));
        assertEquals("%", Wire.escape(""));
        for (String s : List.of("", "plain", "a b", "100%", "tab\there", "é")) {
            assertEquals(s, Wire.unescape(Wire.escape(s)));
        }
        assertEquals("arg a%20b %\n", Wire.line(List.of("arg", "a b", "")));
        assertEquals(List.of("arg", "a b", ""), Wire.words("arg a%20b %"));
    }
}
