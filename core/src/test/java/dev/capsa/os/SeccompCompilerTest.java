package dev.capsa.os;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.Json;
import dev.capsa.spec.Seccomp;
import dev.capsa.spi.Features;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The Java half of seccomp: config-linux.md's seccomp section to a BPF program, no root needed. */
class SeccompCompilerTest {
    private static final int BPF_RET_K = 0x06; // BPF_RET | BPF_K
    private static final int SECCOMP_RET_ALLOW = 0x7fff0000;

    @BeforeEach
    void libseccomp() {
        assumeTrue(SeccompCompiler.unavailabilityCause() == null, "libseccomp cannot be loaded here: "
                + SeccompCompiler.unavailabilityCause() + " (Debian: apt-get install libseccomp2)");
    }

    /** A profile: ALLOW by default, mkdir and mkdirat fail with errnoRet 1, plus what {@code edit} adds. */
    private static Seccomp profile(Consumer<ObjectNode> edit) {
        ObjectNode s = Json.mapper().createObjectNode();
        s.put("defaultAction", "SCMP_ACT_ALLOW");
        s.putArray("architectures").add("SCMP_ARCH_X86_64").add("SCMP_ARCH_X86").add("SCMP_ARCH_X32");
        ObjectNode rule = s.putArray("syscalls").addObject();
        rule.putArray("names").add("mkdir").add("mkdirat");
        rule.put("action", "SCMP_ACT_ERRNO").put("errnoRet", 1);
        edit.accept(s);
        return Json.mapper().convertValue(s, Seccomp.class);
    }

    private static ObjectNode rule(ObjectNode profile) {
        return ((ArrayNode) profile.get("syscalls")).addObject();
    }

    private static InvalidSpecException refused(Consumer<ObjectNode> edit) {
        return assertThrows(InvalidSpecException.class, () -> SeccompCompiler.compile(profile(edit)));
    }

    @Test
    void aSmallProfileCompilesToWholeInstructionsEndingInReturns() {
        SeccompProgram p = SeccompCompiler.compile(profile(s -> { }));
        byte[] bpf = p.bpf();
        assertEquals(0, bpf.length % 8, "struct sock_filter is 8 bytes");
        assertTrue(p.instructions() > 4 && p.instructions() < 200, p.toString());
        assertEquals(0, p.flags());
        ByteBuffer b = ByteBuffer.wrap(bpf).order(ByteOrder.nativeOrder());
        // the first instruction loads seccomp_data.arch (offset 4): libseccomp's architecture check
        assertEquals(0x20, b.getShort(0) & 0xffff, "BPF_LD|BPF_W|BPF_ABS");
        assertEquals(4, b.getInt(4));
        // somewhere it returns ERRNO(1) and ALLOW
        boolean errno = false;
        boolean allow = false;
        for (int i = 0; i < p.instructions(); i++) {
            if ((b.getShort(i * 8) & 0xffff) == BPF_RET_K) {
                errno |= b.getInt(i * 8 + 4) == (0x00050000 | 1);
                allow |= b.getInt(i * 8 + 4) == SECCOMP_RET_ALLOW;
            }
        }
        assertTrue(errno && allow, "returns SECCOMP_RET_ERRNO|1 and SECCOMP_RET_ALLOW");
    }

    @Test
    void theSameProfileGivesTheSameProgramAndArgumentsChangeIt() {
        assertEquals(SeccompCompiler.compile(profile(s -> { })), SeccompCompiler.compile(profile(s -> { })));
        SeccompProgram withArgs = SeccompCompiler.compile(profile(s -> {
            ObjectNode r = rule(s).put("action", "SCMP_ACT_ERRNO");
            r.putArray("names").add("personality");
            r.putArray("args").addObject().put("index", 0).put("value", 8).put("op", "SCMP_CMP_NE");
            // two conditions on one argument: runc makes one rule of each
            ObjectNode twice = rule(s).put("action", "SCMP_ACT_KILL_PROCESS");
            twice.putArray("names").add("socket");
            ArrayNode args = twice.putArray("args");
            args.addObject().put("index", 0).put("value", 16).put("op", "SCMP_CMP_EQ");
            args.addObject().put("index", 0).put("value", 0xf0).put("valueTwo", 0x10).put("op", "SCMP_CMP_MASKED_EQ");
        }));
        assertNotEquals(SeccompCompiler.compile(profile(s -> { })), withArgs);
    }

    @Test
    void flagsBecomeKernelFlagsAndTsyncIsImplied() {
        SeccompProgram p = SeccompCompiler.compile(profile(s -> s.putArray("flags")
                .add("SECCOMP_FILTER_FLAG_TSYNC").add("SECCOMP_FILTER_FLAG_LOG").add("SECCOMP_FILTER_FLAG_SPEC_ALLOW")));
        assertEquals(SeccompCompiler.FLAG_LOG | SeccompCompiler.FLAG_SPEC_ALLOW, p.flags());
    }

    @Test
    void anUnknownSyscallNameToAllowIsSkippedAsRuncDoes() {
        Consumer<ObjectNode> allowList = s -> {
            s.put("defaultAction", "SCMP_ACT_ERRNO");
            ((ObjectNode) s.at("/syscalls/0")).put("action", "SCMP_ACT_ALLOW").remove("errnoRet");
        };
        SeccompProgram known = SeccompCompiler.compile(profile(allowList));
        SeccompProgram withUnknown = SeccompCompiler.compile(profile(allowList.andThen(s ->
                ((ArrayNode) s.at("/syscalls/0/names")).add("no_such_syscall_in_any_kernel"))));
        assertEquals(known, withUnknown);
    }

    @Test
    void anUnknownSyscallNameToBlockIsRefusedByPointer() {
        assertEquals("/linux/seccomp/syscalls/0/names/2: unknown syscall \"mkdri\": libseccomp knows no syscall "
                + "of that name on any architecture, so the rule cannot be enforced",
                refused(s -> ((ArrayNode) s.at("/syscalls/0/names")).add("mkdri")).getMessage());
        // a name of another architecture only is known to libseccomp: it is not refused
        assertNotNull(SeccompCompiler.compile(profile(s -> ((ArrayNode) s.at("/syscalls/0/names")).add("mmap2"))));
    }

    @Test
    void nothingToFilterIsNoProgram() {
        assertNull(SeccompCompiler.compile(null));
        assertNull(SeccompCompiler.compile(Json.mapper().convertValue(Json.mapper().createObjectNode(),
                Seccomp.class)));
    }

    @Test
    void badFieldsAreNamedByPointer() {
        assertEquals("/linux/seccomp/syscalls/1/action: unknown action \"SCMP_ACT_FOO\"", refused(s -> rule(s)
                .put("action", "SCMP_ACT_FOO").putArray("names").add("mount")).getMessage());
        assertEquals("/linux/seccomp/defaultAction", refused(s -> s.put("defaultAction", "ALLOW")).pointer());
        assertEquals("/linux/seccomp/architectures/1: unknown architecture \"SCMP_ARCH_Z80\"",
                refused(s -> ((ArrayNode) s.get("architectures")).set(1, "SCMP_ARCH_Z80")).getMessage());
        assertEquals("/linux/seccomp/syscalls/1/args/0/op", refused(s -> {
            ObjectNode r = rule(s).put("action", "SCMP_ACT_ERRNO");
            r.putArray("names").add("socket");
            r.putArray("args").addObject().put("index", 0).put("value", 1).put("op", "SCMP_CMP_ALMOST");
        }).pointer());
        assertEquals("/linux/seccomp/syscalls/1/args/0/index", refused(s -> {
            ObjectNode r = rule(s).put("action", "SCMP_ACT_ERRNO");
            r.putArray("names").add("socket");
            r.putArray("args").addObject().put("index", 6).put("value", 1).put("op", "SCMP_CMP_EQ");
        }).pointer());
        assertEquals("/linux/seccomp/flags/0", refused(s -> s.putArray("flags").add("SECCOMP_FILTER_FLAG_NOPE"))
                .pointer());
        assertEquals("/linux/seccomp/syscalls/1/names", refused(s -> rule(s).put("action", "SCMP_ACT_LOG")
                .putArray("names")).pointer());
        assertEquals("/linux/seccomp/syscalls/0/errnoRet", refused(s -> ((ObjectNode) s.at("/syscalls/0"))
                .put("action", "SCMP_ACT_LOG")).pointer());
        assertEquals("/linux/seccomp/syscalls/1/action", refused(s -> rule(s).put("action", "SCMP_ACT_NOTIFY")
                .putArray("names").add("mount")).pointer());
        assertEquals("/linux/seccomp/listenerPath: seccomp notify is not supported by capsa yet",
                refused(s -> s.put("listenerPath", "/run/x.sock")).getMessage());
    }

    @Test
    void featuresListWhatCompileTakesAndTheHostsArchitectures() {
        Features.Seccomp f = SeccompCompiler.features();
        assertTrue(f.enabled());
        assertTrue(f.actions().contains("SCMP_ACT_ERRNO") && !f.actions().contains("SCMP_ACT_NOTIFY"), f.toString());
        assertEquals(7, f.operators().size());
        assertTrue(f.archs().containsAll(List.of("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32")), f.toString());
        assertTrue(f.supportedFlags().contains("SECCOMP_FILTER_FLAG_TSYNC"));
        assertTrue(f.knownFlags().containsAll(f.supportedFlags()));
    }
}
