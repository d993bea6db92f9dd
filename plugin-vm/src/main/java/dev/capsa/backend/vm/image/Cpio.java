package dev.capsa.backend.vm.image;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A writer of the newc cpio format the kernel unpacks as initramfs (Documentation/driver-api/
 * early-userspace/buffer-format.rst): owner 0:0, mtime 0 and inode numbers in the order of the
 * entries, so the same entries give the same bytes.
 */
public final class Cpio {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private int ino = 1;

    public Cpio directory(String name, int mode) {
        entry(name, 0040000 | mode, 2, new byte[0]);
        return this;
    }

    public Cpio file(String name, int mode, byte[] data) {
        entry(name, 0100000 | mode, 1, data);
        return this;
    }

    /** The archive, ended with the TRAILER!!! entry. */
    public byte[] finish() {
        entry("TRAILER!!!", 0, 1, new byte[0]);
        return out.toByteArray();
    }

    private void entry(String name, int mode, int nlink, byte[] data) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        String header = "070701" + hex(name.equals("TRAILER!!!") ? 0 : ino++) + hex(mode) + hex(0) + hex(0)
                + hex(nlink) + hex(0) + hex(data.length) + hex(0) + hex(0) + hex(0) + hex(0) + hex(n.length + 1)
                + hex(0);
        out.writeBytes(header.getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(n);
        out.write(0);
        pad();
        out.writeBytes(data);
        pad();
    }

    private void pad() {
        while (out.size() % 4 != 0) {
            out.write(0);
        }
    }

    private static String hex(long v) {
        return String.format("%08X", v);
    }
}
