package dev.capsa.example;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.capsa.spec.ProcessSpec;
import dev.capsa.spec.SpecLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ChrootCommandTest {
    private static final Path FIFO = Path.of("/run/capsa/c1/exec.fifo");
    private static final Path ROOTFS = Path.of("/srv/bundle/rootfs");

    private static ProcessSpec process(String json) {
        String config = "{\"ociVersion\": \"1.2.1\", \"root\": {\"path\": \"rootfs\"}, \"process\": " + json + "}";
        return SpecLoader.parse(config.getBytes(StandardCharsets.UTF_8)).process();
    }

    @Test
    void rootInSlashWaitsThenChroots() {
        List<String> argv = ChrootCommand.argv(FIFO, ROOTFS,
                process("{\"user\": {\"uid\": 0, \"gid\": 0}, \"args\": [\"echo\", \"hi there\"], \"cwd\": \"/\"}"));
        assertEquals(List.of("/bin/sh", "-c", "read _ < \"$0\" && exec \"$@\"", "/run/capsa/c1/exec.fifo",
                "/usr/sbin/chroot", "/srv/bundle/rootfs", "echo", "hi there"), argv);
    }

    @Test
    void userGroupsAndCwdBecomeChrootOptionsAndAnInnerCd() {
        List<String> argv = ChrootCommand.argv(FIFO, ROOTFS, process("{\"user\": {\"uid\": 1000, \"gid\": 100, "
                + "\"additionalGids\": [10, 20]}, \"args\": [\"ls\"], \"cwd\": \"/home/u\"}"));
        assertEquals(List.of("/bin/sh", "-c", "read _ < \"$0\" && exec \"$@\"", "/run/capsa/c1/exec.fifo",
                "/usr/sbin/chroot", "--userspec=1000:100", "--groups=10,20", "/srv/bundle/rootfs",
                "/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", "/home/u", "ls"), argv);
    }
}
