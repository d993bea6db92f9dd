package dev.capsa.os;

import dev.capsa.error.CapsaException;
import dev.capsa.error.Errno;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.Seccomp;
import dev.capsa.spi.Features;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code linux.seccomp} compiled to a BPF program in Java, with libseccomp through jnr-ffi, the way
 * runc's libcontainer/seccomp does it (design.md: Java decides; capsa-init, and the vm backend's
 * guest agent, only load the program). Both backends use it. The spec is checked here first, so a bad action, operator, architecture or flag is
 * refused with its JSON pointer before libseccomp is touched; libseccomp is bound on the first
 * spec that has a seccomp section, so other commands do not pay for it.
 *
 * <p>Where config-linux.md is silent this follows runc, with one exception: a syscall name that
 * libseccomp knows on no architecture is skipped in a rule that allows (or logs) the call, with a
 * debug line, as runc does (it may be a newer kernel's, and the default action still covers it), but
 * refused with its pointer in a rule that blocks it, where runc's skip would let the call through
 * unnoticed (a typo, or a syscall newer than this libseccomp); a rule whose action
 * equals the default action is skipped; {@code errnoRet} of a rule defaults to EPERM and
 * {@code defaultErrnoRet} applies to the default action only; two conditions on the same argument
 * become one rule each (libseccomp cannot AND them); SCMP_ACT_KILL is KILL_THREAD; the flag
 * SECCOMP_FILTER_FLAG_TSYNC is accepted and not passed (the loaders are single-threaded). Seccomp
 * notify (SCMP_ACT_NOTIFY, listenerPath) is refused for now.
 */
public final class SeccompCompiler {
    private static final Logger LOG = LoggerFactory.getLogger(SeccompCompiler.class);
    private static final String AT = "/linux/seccomp";
    private static final String NOT_YET = "seccomp notify is not supported by capsa yet";

    // libseccomp's action values (seccomp.h)
    public static final int SCMP_ACT_KILL_PROCESS = 0x80000000;
    public static final int SCMP_ACT_KILL_THREAD = 0x00000000;
    public static final int SCMP_ACT_TRAP = 0x00030000;
    public static final int SCMP_ACT_ERRNO = 0x00050000;
    public static final int SCMP_ACT_TRACE = 0x7ff00000;
    public static final int SCMP_ACT_LOG = 0x7ffc0000;
    public static final int SCMP_ACT_ALLOW = 0x7fff0000;
    private static final int EPERM = 1;
    private static final int EEXIST = 17;

    // libseccomp's filter attributes
    private static final int SCMP_FLTATR_CTL_NNP = 3;
    private static final int SCMP_FLTATR_CTL_LOG = 6;
    private static final int SCMP_FLTATR_CTL_SSB = 7;
    private static final int NR_SCMP_ERROR = -1;
    private static final int MAX_ARGS = 6;

    // the kernel's SECCOMP_FILTER_FLAG_* (linux/seccomp.h)
    public static final long FLAG_LOG = 1 << 1;
    public static final long FLAG_SPEC_ALLOW = 1 << 2;

    /** The actions this backend implements, in features.md's order; SCMP_ACT_NOTIFY is not one yet. */
    public static final List<String> ACTIONS = List.of("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
            "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP");

    /** config-linux.md's operators and libseccomp's enum scmp_compare. */
    public static final Map<String, Integer> OPERATORS = orderedMap("SCMP_CMP_EQ", 4, "SCMP_CMP_GE", 5, "SCMP_CMP_GT", 6,
            "SCMP_CMP_LE", 3, "SCMP_CMP_LT", 2, "SCMP_CMP_MASKED_EQ", 7, "SCMP_CMP_NE", 1);

    /** config-linux.md's architectures; libseccomp's name is the lowercase rest ("SCMP_ARCH_X86_64": "x86_64"). */
    public static final List<String> ARCHITECTURES = List.of("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",
            "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
            "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
            "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
            "SCMP_ARCH_RISCV64");

    /** The flags runc knows; TSYNC is what libseccomp does anyway, the others become kernel flags. */
    public static final List<String> FLAGS = List.of("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            "SECCOMP_FILTER_FLAG_LOG");

    private SeccompCompiler() {
    }

    /** The libseccomp functions used here (seccomp.h); unsigned ints travel as Java ints. */
    public interface LibSeccomp {
        Pointer seccomp_init(int defaultAction);

        void seccomp_release(Pointer ctx);

        int seccomp_arch_add(Pointer ctx, int archToken);

        int seccomp_arch_resolve_name(String name);

        int seccomp_syscall_resolve_name(String name);

        int seccomp_rule_add_array(Pointer ctx, int action, int syscall, int argCount, @In byte[] args);

        int seccomp_attr_set(Pointer ctx, int attribute, int value);

        int seccomp_export_bpf(Pointer ctx, int fd);
    }

    /** The libc functions for a memfd to export the program into. */
    public interface LibC {
        int memfd_create(String name, int flags);

        int close(int fd);
    }

    /** Bound on first use: only a spec with seccomp (or {@code capsa features}) loads libseccomp. */
    private static final class Native {
        static final LibSeccomp SECCOMP;
        static final LibC LIBC;
        static final Throwable FAILURE;

        static {
            LibSeccomp seccomp = null;
            LibC libc = null;
            Throwable failure = null;
            try {
                // libseccomp.so.2 is the runtime package's name; the unversioned link comes only with -dev
                seccomp = LibraryLoader.create(LibSeccomp.class).failImmediately().library("libseccomp.so.2")
                        .library("seccomp").load();
                libc = LibraryLoader.create(LibC.class).failImmediately().load("c");
            } catch (Throwable e) {
                failure = e;
            }
            SECCOMP = seccomp;
            LIBC = libc;
            FAILURE = failure;
        }
    }

    /** Whether libseccomp can be loaded here; the reason when it cannot. */
    public static String unavailabilityCause() {
        return Native.FAILURE == null ? null : String.valueOf(Native.FAILURE.getMessage());
    }

    private static LibSeccomp lib() {
        if (Native.FAILURE != null) {
            throw new InvalidSpecException(AT, "libseccomp (libseccomp.so.2) cannot be loaded: "
                    + Native.FAILURE.getMessage(), Native.FAILURE);
        }
        return Native.SECCOMP;
    }

    /** A checked rule for one syscall name. */
    private record Rule(String name, String at, int action, List<List<Condition>> conditionSets) {
    }

    /** struct scmp_arg_cmp: {u32 arg; enum op; u64 datum_a; u64 datum_b}. */
    private record Condition(int index, int op, long value, long valueTwo) {
    }

    /**
     * The program for {@code seccomp}, or null when there is nothing to filter (runc: no default
     * action and no syscalls means no seccomp). Every problem names its field.
     */
    public static SeccompProgram compile(Seccomp seccomp) {
        if (seccomp == null || (seccomp.defaultAction() == null && list(seccomp.syscalls()).isEmpty())) {
            return null;
        }
        if (seccomp.listenerPath() != null && !seccomp.listenerPath().isEmpty()) {
            throw new InvalidSpecException(AT + "/listenerPath", NOT_YET);
        }
        if (seccomp.defaultAction() == null) {
            throw new InvalidSpecException(AT + "/defaultAction", "required when syscalls are listed");
        }
        int defaultAction = action(seccomp.defaultAction(), seccomp.defaultErrnoRet(), AT + "/defaultAction",
                AT + "/defaultErrnoRet", true);
        List<String> archNames = new ArrayList<>();
        for (int i = 0; i < list(seccomp.architectures()).size(); i++) {
            String arch = list(seccomp.architectures()).get(i);
            if (!ARCHITECTURES.contains(arch)) {
                throw new InvalidSpecException(AT + "/architectures/" + i, "unknown architecture \"" + arch + "\"");
            }
            archNames.add(libseccompArch(arch));
        }
        long flags = 0;
        List<Integer> attributes = new ArrayList<>();
        for (int i = 0; i < list(seccomp.flags()).size(); i++) {
            String flag = list(seccomp.flags()).get(i);
            switch (flag) {
                case "SECCOMP_FILTER_FLAG_TSYNC" -> { } // libseccomp's default; capsa-init has one thread
                case "SECCOMP_FILTER_FLAG_LOG" -> {
                    flags |= FLAG_LOG;
                    attributes.add(SCMP_FLTATR_CTL_LOG);
                }
                case "SECCOMP_FILTER_FLAG_SPEC_ALLOW" -> {
                    flags |= FLAG_SPEC_ALLOW;
                    attributes.add(SCMP_FLTATR_CTL_SSB);
                }
                default -> throw new InvalidSpecException(AT + "/flags/" + i, "unknown or unsupported seccomp flag \""
                        + flag + "\"");
            }
        }
        List<Rule> rules = new ArrayList<>();
        for (int i = 0; i < list(seccomp.syscalls()).size(); i++) {
            rules.addAll(rules(list(seccomp.syscalls()).get(i), AT + "/syscalls/" + i, defaultAction));
        }
        return build(defaultAction, archNames, attributes, rules, flags);
    }

    /** runc's ConvertStringToArch: "SCMP_ARCH_X86_64" is libseccomp's "x86_64". */
    public static String libseccompArch(String ociName) {
        return ociName.substring("SCMP_ARCH_".length()).toLowerCase(java.util.Locale.ROOT);
    }

    private static List<Rule> rules(Seccomp.Syscall call, String at, int defaultAction) {
        if (list(call.names()).isEmpty()) {
            throw new InvalidSpecException(at + "/names", "at least one syscall name is required");
        }
        int action = action(call.action(), call.errnoRet(), at + "/action", at + "/errnoRet", false);
        List<Condition> conditions = new ArrayList<>();
        int[] perArg = new int[MAX_ARGS];
        boolean repeated = false;
        for (int j = 0; j < list(call.args()).size(); j++) {
            Seccomp.Arg arg = list(call.args()).get(j);
            String argAt = at + "/args/" + j;
            if (arg.index() == null || arg.index() < 0 || arg.index() >= MAX_ARGS) {
                throw new InvalidSpecException(argAt + "/index", "must be a syscall argument index from 0 to 5");
            }
            Integer op = arg.op() == null ? null : OPERATORS.get(arg.op());
            if (op == null) {
                throw new InvalidSpecException(argAt + "/op", arg.op() == null ? "required"
                        : "unknown operator \"" + arg.op() + "\"");
            }
            repeated |= ++perArg[arg.index().intValue()] > 1;
            conditions.add(new Condition(arg.index().intValue(), op, uint64(arg.value(), argAt + "/value"),
                    uint64(arg.valueTwo(), argAt + "/valueTwo")));
        }
        // runc: libseccomp cannot AND two conditions on one argument, so each becomes a rule of its own
        List<List<Condition>> sets = repeated ? conditions.stream().map(List::of).toList() : List.of(conditions);
        List<Rule> rules = new ArrayList<>();
        for (int k = 0; k < list(call.names()).size(); k++) {
            String name = list(call.names()).get(k);
            if (name == null || name.isEmpty()) {
                throw new InvalidSpecException(at + "/names/" + k, "empty syscall name");
            }
            if (action == defaultAction) {
                continue; // runc: redundant with the default action, and libseccomp refuses it
            }
            rules.add(new Rule(name, at + "/names/" + k, action, sets));
        }
        return rules;
    }

    /** An action name (with its errno for ERRNO and TRACE) as libseccomp's action value. */
    private static int action(String name, Long errnoRet, String at, String errnoAt, boolean isDefault) {
        if (name == null) {
            throw new InvalidSpecException(at, "required");
        }
        int base = switch (name) {
            case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD" -> SCMP_ACT_KILL_THREAD;
            case "SCMP_ACT_KILL_PROCESS" -> SCMP_ACT_KILL_PROCESS;
            case "SCMP_ACT_TRAP" -> SCMP_ACT_TRAP;
            case "SCMP_ACT_ERRNO" -> SCMP_ACT_ERRNO;
            case "SCMP_ACT_TRACE" -> SCMP_ACT_TRACE;
            case "SCMP_ACT_ALLOW" -> SCMP_ACT_ALLOW;
            case "SCMP_ACT_LOG" -> SCMP_ACT_LOG;
            case "SCMP_ACT_NOTIFY" -> throw new InvalidSpecException(at, isDefault
                    ? "SCMP_ACT_NOTIFY cannot be the default action" : "SCMP_ACT_NOTIFY needs listenerPath; " + NOT_YET);
            default -> throw new InvalidSpecException(at, "unknown action \"" + name + "\"");
        };
        if (base == SCMP_ACT_ERRNO || base == SCMP_ACT_TRACE) {
            long errno = errnoRet == null ? EPERM : errnoRet;
            if (errno < 0 || errno > 0xffff) {
                throw new InvalidSpecException(errnoAt, "must fit in 16 bits (seccomp's return data), not " + errno);
            }
            return base | (int) errno;
        }
        if (errnoRet != null && !isDefault) {
            throw new InvalidSpecException(errnoAt, "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno");
        }
        return base;
    }

    private static long uint64(BigInteger value, String at) {
        if (value == null) {
            return 0;
        }
        if (value.signum() < 0 || value.bitLength() > 64) {
            throw new InvalidSpecException(at, "must be a 64-bit unsigned number");
        }
        return value.longValue();
    }

    /** libseccomp does the rest: the architecture checks, syscall numbers per architecture, the jumps. */
    private static SeccompProgram build(int defaultAction, List<String> archs, List<Integer> attributes,
                                        List<Rule> rules, long flags) {
        LibSeccomp lib = lib();
        Pointer ctx = lib.seccomp_init(defaultAction);
        if (ctx == null || ctx.address() == 0) {
            throw new InvalidSpecException(AT + "/defaultAction", "libseccomp refused the default action");
        }
        try {
            // runc unsets it: no_new_privs is process.noNewPrivileges' business, not the filter's
            check(lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0), AT, "seccomp_attr_set(CTL_NNP)");
            for (int i = 0; i < archs.size(); i++) {
                int token = lib.seccomp_arch_resolve_name(archs.get(i));
                if (token == 0) {
                    throw new InvalidSpecException(AT + "/architectures/" + i, "this libseccomp does not know "
                            + "architecture \"" + archs.get(i) + "\"");
                }
                int rc = lib.seccomp_arch_add(ctx, token);
                if (rc != -EEXIST) { // the native architecture is there from the start
                    check(rc, AT + "/architectures/" + i, "seccomp_arch_add");
                }
            }
            for (int attribute : attributes) {
                int rc = lib.seccomp_attr_set(ctx, attribute, 1);
                if (rc < 0) {
                    throw new InvalidSpecException(AT + "/flags", "this kernel or libseccomp does not support the flag"
                            + " (seccomp_attr_set " + attribute + ": " + Errno.name(-rc) + ")");
                }
            }
            for (Rule rule : rules) {
                int nr = lib.seccomp_syscall_resolve_name(rule.name());
                if (nr == NR_SCMP_ERROR) {
                    if (rule.action() != SCMP_ACT_ALLOW && rule.action() != SCMP_ACT_LOG) {
                        // skipping it would let the call through: a typo or a syscall newer than libseccomp
                        throw new InvalidSpecException(rule.at(), "unknown syscall \"" + rule.name() + "\": "
                                + "libseccomp knows no syscall of that name on any architecture, so the rule "
                                + "cannot be enforced");
                    }
                    // as runc: a name to allow may be a newer kernel's; the default action still applies to it
                    LOG.debug("seccomp: unknown syscall \"{}\" ({}) not allowed", rule.name(), rule.at());
                    continue;
                }
                for (List<Condition> set : rule.conditionSets()) {
                    check(lib.seccomp_rule_add_array(ctx, rule.action(), nr, set.size(), encode(set)), rule.at(),
                            "seccomp_rule_add \"" + rule.name() + "\"");
                }
            }
            return export(lib, ctx, flags);
        } finally {
            lib.seccomp_release(ctx);
        }
    }

    private static byte[] encode(List<Condition> conditions) {
        ByteBuffer b = ByteBuffer.allocate(Math.max(1, conditions.size()) * 24).order(ByteOrder.nativeOrder());
        for (Condition c : conditions) {
            b.putInt(c.index()).putInt(c.op()).putLong(c.value()).putLong(c.valueTwo());
        }
        return b.array();
    }

    /** seccomp_export_bpf writes to a descriptor: a memfd, read back through /proc/self/fd. */
    private static SeccompProgram export(LibSeccomp lib, Pointer ctx, long flags) {
        LibC libc = Native.LIBC;
        int fd = libc.memfd_create("capsa-seccomp", 1 /* MFD_CLOEXEC */);
        if (fd < 0) {
            throw new CapsaException("memfd_create for the seccomp program failed");
        }
        try {
            check(lib.seccomp_export_bpf(ctx, fd), AT, "seccomp_export_bpf");
            byte[] bpf = Files.readAllBytes(Path.of("/proc/self/fd/" + fd));
            SeccompProgram program = new SeccompProgram(bpf, flags);
            if (program.instructions() > SeccompProgram.MAX_INSTRUCTIONS) {
                throw new InvalidSpecException(AT, "the compiled filter has " + program.instructions()
                        + " instructions; the kernel takes at most " + SeccompProgram.MAX_INSTRUCTIONS);
            }
            return program;
        } catch (IOException e) {
            throw new CapsaException("cannot read the exported seccomp program: " + e.getMessage(), e);
        } finally {
            libc.close(fd);
        }
    }

    private static void check(int rc, String at, String what) {
        if (rc < 0) {
            throw new InvalidSpecException(at, "libseccomp refused it: " + what + ": " + Errno.name(-rc) + " ("
                    + Errno.describe(-rc) + ")");
        }
    }

    /**
     * features.md's seccomp section: what compile accepts, the architectures this libseccomp
     * resolves, and the flags this kernel takes (checked through libseccomp's attributes).
     */
    public static Features.Seccomp features() {
        if (Native.FAILURE != null) {
            LOG.debug("seccomp: libseccomp unavailable: {}", Native.FAILURE.getMessage());
            return new Features.Seccomp(false, null, null, null, null, null);
        }
        LibSeccomp lib = Native.SECCOMP;
        List<String> archs = ARCHITECTURES.stream()
                .filter(a -> lib.seccomp_arch_resolve_name(libseccompArch(a)) != 0).sorted().toList();
        List<String> supported = new ArrayList<>();
        supported.add("SECCOMP_FILTER_FLAG_TSYNC");
        Pointer ctx = lib.seccomp_init(SCMP_ACT_ALLOW);
        if (ctx != null && ctx.address() != 0) {
            try {
                if (lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1) == 0) {
                    supported.add("SECCOMP_FILTER_FLAG_SPEC_ALLOW");
                }
                if (lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1) == 0) {
                    supported.add("SECCOMP_FILTER_FLAG_LOG");
                }
            } finally {
                lib.seccomp_release(ctx);
            }
        }
        return new Features.Seccomp(true, ACTIONS, List.copyOf(OPERATORS.keySet()), archs, FLAGS,
                List.copyOf(supported));
    }

    private static <T> List<T> list(List<T> list) {
        return list == null ? List.of() : list;
    }

    private static Map<String, Integer> orderedMap(Object... pairs) {
        Map<String, Integer> map = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            map.put((String) pairs[i], (Integer) pairs[i + 1]);
        }
        return java.util.Collections.unmodifiableMap(map);
    }
}
