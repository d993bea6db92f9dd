package dev.capsa.os;

import java.util.Arrays;

/**
 * A compiled {@code linux.seccomp}: the classic BPF program ({@code struct sock_filter[]}, 8 bytes
 * per instruction, in the host's byte order) as libseccomp exports it, and the
 * {@code SECCOMP_FILTER_FLAG_*} bits its loader passes to seccomp(SECCOMP_SET_MODE_FILTER).
 * {@link SeccompCompiler} makes it; the ns backend's plan carries it to capsa-init as the record
 * {@code seccomp [bpf, flags]}, the vm backend's to the guest agent as the order
 * {@code seccomp FLAGS HEX}.
 */
public record SeccompProgram(byte[] bpf, long flags) {
    /** struct sock_filter: u16 code, u8 jt, u8 jf, u32 k. */
    public static final int INSTRUCTION_BYTES = 8;
    /** BPF_MAXINSNS: the kernel refuses a longer classic filter. */
    public static final int MAX_INSTRUCTIONS = 4096;

    public SeccompProgram {
        bpf = bpf.clone();
        if (bpf.length == 0 || bpf.length % INSTRUCTION_BYTES != 0) {
            throw new IllegalArgumentException("a seccomp program is a non-empty array of 8-byte instructions, not "
                    + bpf.length + " bytes");
        }
    }

    public int instructions() {
        return bpf.length / INSTRUCTION_BYTES;
    }

    @Override
    public byte[] bpf() {
        return bpf.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SeccompProgram p && p.flags == flags && Arrays.equals(p.bpf, bpf);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bpf) * 31 + Long.hashCode(flags);
    }

    @Override
    public String toString() {
        return "SeccompProgram[" + instructions() + " instructions, flags=" + flags + "]";
    }
}
