package dev.capsa.backend.vm.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CpioTest {
    @Test
    void newcEntriesAreAlignedOwnedByRootAndDatedZero() {
        byte[] a = new Cpio().directory("dev", 0755).file("init", 0755, "abc".getBytes(StandardCharsets.US_ASCII))
                .finish();
        byte[] b = new Cpio().directory("dev", 0755).file("init", 0755, "abc".getBytes(StandardCharsets.US_ASCII))
                .finish();
        assertArrayEquals(a, b, "the same entries give the same bytes");
        assertEquals(0, a.length % 4);
        String text = new String(a, StandardCharsets.ISO_8859_1);
        // magic, ino 1, mode 040755, uid 0, gid 0, nlink 2, mtime 0, size 0, ..., namesize 4 ("dev\0")
        assertTrue(text.startsWith("070701" + "00000001" + "000041ED" + "00000000" + "00000000" + "00000002"
                + "00000000" + "00000000"), text);
        assertTrue(text.contains("000081ED00000000000000000000000100000000" + "00000003"), text);
        assertTrue(text.contains("init\0"), text);
        assertTrue(text.contains("TRAILER!!!\0"), text);
    }
}
