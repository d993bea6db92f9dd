package dev.capsa.backend.ns.cgroup;

import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.Resources;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The cgroup v2 device controller: linux.resources.devices compiled to a
 * BPF_PROG_TYPE_CGROUP_DEVICE program, with the semantics of runc's libcontainer/cgroups/devices
 * (its v1 emulator, then its program generator), so a rule list means on v2 what it means on v1.
 *
 * <p>The rules are applied in order to an emulated v1 devices cgroup that starts as deny-all: an
 * {@code a} rule resets it to allow-all or deny-all (its numbers and access are ignored, as the
 * kernel ignores them); a {@code b}/{@code c} rule adds or removes access bits of the exception
 * with exactly that type, major and minor (-1 or unset = any). Removing access that a wildcard
 * exception still grants is an error, as in runc, because v1 would ignore it in silence. The
 * exceptions left, sorted by (major, minor, type), become one block each: every block returns
 * the opposite of the default, and the program ends returning the default. An access is matched
 * only when one exception holds every bit asked for, as v1 matches.
 *
 * <p>Pure: no I/O. {@link CgroupBpf} loads and attaches the result.
 */
final class DeviceFilter {
    /** bpf_cgroup_dev_ctx.access_type: the device type in the low 16 bits (BPF_DEVCG_DEV_*). */
    static final int DEV_BLOCK = 1;
    static final int DEV_CHAR = 2;
    /** ... and the access in the high 16 bits (BPF_DEVCG_ACC_*). */
    static final int ACC_MKNOD = 1;
    static final int ACC_READ = 2;
    static final int ACC_WRITE = 4;
    static final int ACC_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE;

    /** The license the kernel is told; runc's program says the same. Only GPL helpers care, and none is used. */
    static final String LICENSE = "Apache";

    /** One rule, in the spec's terms; {@code type} is 'a', 'b' or 'c', -1 is any number, pointer names the entry. */
    record Rule(boolean allow, char type, long major, long minor, int access, String pointer) {
        static Rule of(Resources.DeviceRule d, String pointer) {
            char type = d.type() == null || d.type().isEmpty() ? 'a' : d.type().charAt(0);
            return new Rule(Boolean.TRUE.equals(d.allow()), type, d.major() == null ? -1 : d.major(),
                    d.minor() == null ? -1 : d.minor(), DeviceFilter.access(d.access()), pointer);
        }

        /** A v1 rule line, "c 1:3 rwm", as runc's default list is written. */
        static Rule parse(String line, String pointer) {
            String[] f = line.split("[ :]");
            return new Rule(true, f[0].charAt(0), f[1].equals("*") ? -1 : Long.parseLong(f[1]),
                    f[2].equals("*") ? -1 : Long.parseLong(f[2]), DeviceFilter.access(f[3]), pointer);
        }
    }

    /** The spec's rules, then runc's default allow list (as v1 appends it), for a container's cgroup. */
    static Program forContainer(List<Resources.DeviceRule> spec) {
        List<Rule> rules = new ArrayList<>();
        for (int i = 0; i < spec.size(); i++) {
            rules.add(Rule.of(spec.get(i), CgroupResources.DEVICES + "/" + i));
        }
        for (String line : DeviceRules.RUNC_DEFAULTS) {
            rules.add(Rule.parse(line, CgroupResources.DEVICES));
        }
        return compile(rules);
    }

    /** One eBPF instruction (struct bpf_insn). */
    record Insn(int code, int dst, int src, int off, int imm) {
        @Override
        public String toString() {
            return switch (code) {
                case LDX_W -> "ldxw r" + dst + ", [r" + src + (off >= 0 ? "+" : "") + off + "]";
                case AND32_K -> "and32 r" + dst + ", " + imm;
                case RSH32_K -> "rsh32 r" + dst + ", " + imm;
                case MOV32_K -> "mov32 r" + dst + ", " + imm;
                case MOV32_X -> "mov32 r" + dst + ", r" + src;
                case JNE_K -> "jne r" + dst + ", " + imm + ", +" + off;
                case JNE_X -> "jne r" + dst + ", r" + src + ", +" + off;
                case EXIT -> "exit";
                default -> String.format("op 0x%02x r%d r%d %d %d", code, dst, src, off, imm);
            };
        }
    }

    // opcodes (linux/bpf.h, linux/bpf_common.h): class | op | source
    static final int LDX_W = 0x61;   // BPF_LDX | BPF_MEM | BPF_W
    static final int AND32_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
    static final int RSH32_K = 0x74; // BPF_ALU | BPF_RSH | BPF_K
    static final int MOV32_K = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
    static final int MOV32_X = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
    static final int JNE_K = 0x55;   // BPF_JMP | BPF_JNE | BPF_K
    static final int JNE_X = 0x5d;   // BPF_JMP | BPF_JNE | BPF_X
    static final int EXIT = 0x95;    // BPF_JMP | BPF_EXIT

    /** A compiled program: its instructions and whether devices no rule names are allowed. */
    record Program(List<Insn> insns, boolean defaultAllow) {
        /** struct bpf_insn[] in the machine's byte order, as BPF_PROG_LOAD takes it. */
        byte[] encode() {
            return encode(ByteOrder.nativeOrder());
        }

        byte[] encode(ByteOrder order) {
            ByteBuffer b = ByteBuffer.allocate(insns.size() * 8).order(order);
            for (Insn i : insns) {
                b.put((byte) i.code());
                // the dst_reg:4, src_reg:4 bitfield: dst in the low nibble on little-endian machines
                b.put((byte) (order == ByteOrder.LITTLE_ENDIAN ? i.src() << 4 | i.dst() : i.dst() << 4 | i.src()));
                b.putShort((short) i.off());
                b.putInt(i.imm());
            }
            return b.array();
        }

        /** One instruction a line, for tests and debug logs. */
        String listing() {
            StringBuilder s = new StringBuilder();
            for (Insn i : insns) {
                s.append(i).append('\n');
            }
            return s.toString();
        }
    }

    private DeviceFilter() {
    }

    /** Applies {@code rules} in order to a deny-all devices cgroup and compiles what results. */
    static Program compile(List<Rule> rules) {
        Emulator e = new Emulator();
        for (Rule r : rules) {
            e.apply(r);
        }
        List<Insn> out = new ArrayList<>();
        // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; } in r1
        out.add(new Insn(LDX_W, 2, 1, 0, 0));
        out.add(new Insn(AND32_K, 2, 0, 0, 0xFFFF));     // r2 = type
        out.add(new Insn(LDX_W, 3, 1, 0, 0));
        out.add(new Insn(RSH32_K, 3, 0, 0, 16));         // r3 = access asked for
        out.add(new Insn(LDX_W, 4, 1, 4, 0));            // r4 = major
        out.add(new Insn(LDX_W, 5, 1, 8, 0));            // r5 = minor
        int result = e.defaultAllow ? 0 : 1;             // what a matching block returns
        for (Map.Entry<Key, Integer> x : e.exceptions.entrySet()) {
            Key k = x.getKey();
            int access = x.getValue();
            List<Insn> block = new ArrayList<>();
            // each jump's offset is filled in below: to the instruction after this block
            block.add(new Insn(JNE_K, 2, 0, 0, k.type() == 'b' ? DEV_BLOCK : DEV_CHAR));
            if (access != ACC_ALL) {
                // every bit asked for must be in the exception: (r3 & access) == r3
                block.add(new Insn(MOV32_X, 1, 3, 0, 0));
                block.add(new Insn(AND32_K, 1, 0, 0, access));
                block.add(new Insn(JNE_X, 1, 3, 0, 0));
            }
            if (k.major() >= 0) {
                block.add(new Insn(JNE_K, 4, 0, 0, (int) k.major()));
            }
            if (k.minor() >= 0) {
                block.add(new Insn(JNE_K, 5, 0, 0, (int) k.minor()));
            }
            block.add(new Insn(MOV32_K, 0, 0, 0, result));
            block.add(new Insn(EXIT, 0, 0, 0, 0));
            for (int i = 0; i < block.size(); i++) {
                Insn in = block.get(i);
                if (in.code() == JNE_K || in.code() == JNE_X) {
                    block.set(i, new Insn(in.code(), in.dst(), in.src(), block.size() - i - 1, in.imm()));
                }
            }
            out.addAll(block);
        }
        out.add(new Insn(MOV32_K, 0, 0, 0, e.defaultAllow ? 1 : 0));
        out.add(new Insn(EXIT, 0, 0, 0, 0));
        return new Program(List.copyOf(out), e.defaultAllow);
    }

    static int access(String access) {
        int bits = 0;
        for (char c : access == null ? new char[0] : access.toCharArray()) {
            bits |= switch (c) {
                case 'r' -> ACC_READ;
                case 'w' -> ACC_WRITE;
                case 'm' -> ACC_MKNOD;
                default -> throw new IllegalArgumentException("device access \"" + access + "\" is not letters of rwm");
            };
        }
        return bits;
    }

    static String access(int bits) {
        return ((bits & ACC_READ) != 0 ? "r" : "") + ((bits & ACC_WRITE) != 0 ? "w" : "")
                + ((bits & ACC_MKNOD) != 0 ? "m" : "");
    }

    /** An exception's match: type 'b' or 'c', -1 for any major or minor. */
    record Key(char type, long major, long minor) {
        static final Comparator<Key> ORDER = Comparator.comparingLong(Key::major).thenComparingLong(Key::minor)
                .thenComparing(Key::type);

        @Override
        public String toString() {
            return type + " " + (major < 0 ? "*" : major) + ":" + (minor < 0 ? "*" : minor);
        }
    }

    /** A v1 devices cgroup: a default and its exceptions (the access bits that differ from it). */
    private static final class Emulator {
        boolean defaultAllow;
        final TreeMap<Key, Integer> exceptions = new TreeMap<>(Key.ORDER);

        void apply(Rule r) {
            if (r.major() > 0xFFFFFFFFL || r.minor() > 0xFFFFFFFFL || r.major() < -1 || r.minor() < -1) {
                throw new InvalidSpecException(r.pointer(), "device numbers must be -1 (any) to 2^32-1");
            }
            if (r.type() == 'a') {
                // the kernel reads nothing after "a": a whole new default, no exceptions
                defaultAllow = r.allow();
                exceptions.clear();
                return;
            }
            if (r.type() != 'b' && r.type() != 'c') {
                throw new InvalidSpecException(r.pointer(), "device type must be \"a\", \"b\" or \"c\"");
            }
            Key key = new Key(r.type(), r.major(), r.minor());
            if (r.allow() == defaultAllow) {
                remove(key, r.access(), r);
            } else if (r.access() != 0) {
                exceptions.merge(key, r.access(), (a, b) -> a | b);
            }
        }

        /**
         * Takes access out of the exception with exactly this key. v1 cannot take it out of a
         * broader (wildcard) exception and ignores the request; runc refuses it, so does Capsa.
         */
        private void remove(Key key, int access, Rule r) {
            for (Key wider : List.of(new Key(key.type(), -1, key.minor()), new Key(key.type(), key.major(), -1),
                    new Key(key.type(), -1, -1))) {
                if (wider.equals(key)) {
                    continue;
                }
                int held = exceptions.getOrDefault(wider, 0);
                if ((held & access) != 0) {
                    throw new InvalidSpecException(r.pointer(), "the rule \"" + key + " " + access(access) + "\" ("
                            + (r.allow() ? "allow" : "deny") + ") cannot take access out of the broader rule \""
                            + wider + " " + access(held) + "\" before it (cgroup v1 would ignore it; runc refuses it)");
                }
            }
            int left = exceptions.getOrDefault(key, 0) & ~access;
            if (left == 0) {
                exceptions.remove(key);
            } else {
                exceptions.put(key, left);
            }
        }
    }
}
