package dev.capsa.backend.ns.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.Resources;
import java.nio.ByteOrder;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

class DeviceFilterTest {
    /** r1 = struct bpf_cgroup_dev_ctx *: type, access, major and minor into r2..r5. */
    private static final String PROLOGUE = """
            ldxw r2, [r1+0]
            and32 r2, 65535
            ldxw r3, [r1+0]
            rsh32 r3, 16
            ldxw r4, [r1+4]
            ldxw r5, [r1+8]
            """;

    private static DeviceFilter.Rule rule(boolean allow, String line) {
        DeviceFilter.Rule r = DeviceFilter.Rule.parse(line, "/x");
        return allow ? r : flip(r);
    }

    private static DeviceFilter.Rule flip(DeviceFilter.Rule r) {
        return new DeviceFilter.Rule(!r.allow(), r.type(), r.major(), r.minor(), r.access(), r.pointer());
    }

    private static String listing(DeviceFilter.Rule... rules) {
        return DeviceFilter.compile(List.of(rules)).listing();
    }

    @Test
    void noRulesDenyEverything() {
        DeviceFilter.Program p = DeviceFilter.compile(List.of());
        assertEquals(PROLOGUE + "mov32 r0, 0\nexit\n", p.listing());
        assertFalse(p.defaultAllow());
    }

    @Test
    void runcsDefaultsAloneGiveOneBlockEachSortedByMajorMinorType() {
        assertEquals(PROLOGUE + """
                jne r2, 1, +5
                mov32 r1, r3
                and32 r1, 1
                jne r1, r3, +2
                mov32 r0, 1
                exit
                jne r2, 2, +5
                mov32 r1, r3
                and32 r1, 1
                jne r1, r3, +2
                mov32 r0, 1
                exit
                jne r2, 2, +4
                jne r4, 1, +3
                jne r5, 3, +2
                mov32 r0, 1
                exit
                jne r2, 2, +4
                jne r4, 1, +3
                jne r5, 5, +2
                mov32 r0, 1
                exit
                jne r2, 2, +4
                jne r4, 1, +3
                jne r5, 7, +2
                mov32 r0, 1
                exit
                jne r2, 2, +4
                jne r4, 1, +3
                jne r5, 8, +2
                mov32 r0, 1
                exit
                jne r2, 2, +4
                jne r4, 1, +3
                jne r5, 9, +2
                mov32 r0, 1
                exit
                jne r2, 2, +4
                jne r4, 5, +3
                jne r5, 0, +2
                mov32 r0, 1
                exit
                jne r2, 2, +4
                jne r4, 5, +3
                jne r5, 2, +2
                mov32 r0, 1
                exit
                jne r2, 2, +3
                jne r4, 136, +2
                mov32 r0, 1
                exit
                mov32 r0, 0
                exit
                """, DeviceFilter.forContainer(List.of()).listing());
        assertEquals(59, DeviceFilter.forContainer(List.of()).insns().size());
    }

    @Test
    void allowAllIsOneReturn() {
        DeviceFilter.Program p = DeviceFilter.compile(List.of(rule(true, "a *:* rwm")));
        assertEquals(PROLOGUE + "mov32 r0, 1\nexit\n", p.listing());
        assertTrue(p.defaultAllow());
    }

    @Test
    void allowAllButOneDevice() {
        assertEquals(PROLOGUE + """
                jne r2, 1, +4
                jne r4, 8, +3
                jne r5, 0, +2
                mov32 r0, 0
                exit
                mov32 r0, 1
                exit
                """, listing(rule(true, "a *:* rwm"), rule(false, "b 8:0 rwm")));
    }

    @Test
    void anAllRuleDropsEverythingBeforeIt() {
        // 8:1 is denied before the allow-all and so allowed; 8:2 after it stays denied (v1 does the same)
        assertEquals(PROLOGUE + """
                jne r2, 1, +4
                jne r4, 8, +3
                jne r5, 2, +2
                mov32 r0, 0
                exit
                mov32 r0, 1
                exit
                """, listing(rule(false, "b 8:1 rwm"), rule(true, "a *:* rwm"), rule(false, "b 8:2 rwm")));
    }

    @Test
    void accessBitsOfOneDeviceMergeAndAreCheckedAsASubset() {
        // r and w given apart become one rw exception; a request must fit in it entirely
        assertEquals(PROLOGUE + """
                jne r2, 2, +7
                mov32 r1, r3
                and32 r1, 6
                jne r1, r3, +4
                jne r4, 1, +3
                jne r5, 3, +2
                mov32 r0, 1
                exit
                mov32 r0, 0
                exit
                """, listing(rule(false, "a *:* rwm"), rule(true, "c 1:3 r"), rule(true, "c 1:3 w")));
    }

    @Test
    void aLaterDenyTakesAccessOutAndTheLastMatchWins() {
        // rwm, then w denied: rm is left; denying the rest removes the block
        assertEquals(PROLOGUE + """
                jne r2, 2, +7
                mov32 r1, r3
                and32 r1, 3
                jne r1, r3, +4
                jne r4, 1, +3
                jne r5, 3, +2
                mov32 r0, 1
                exit
                mov32 r0, 0
                exit
                """, listing(rule(true, "c 1:3 rwm"), rule(false, "c 1:3 w")));
        assertEquals(PROLOGUE + "mov32 r0, 0\nexit\n",
                listing(rule(true, "c 1:3 rwm"), rule(false, "c 1:3 rwm"), rule(false, "c 2:3 r")));
        // allowed again after the deny: allowed
        assertEquals(DeviceFilter.compile(List.of(rule(true, "c 1:3 rw"))).listing(),
                listing(rule(true, "c 1:3 rw"), rule(false, "c 1:3 rw"), rule(true, "c 1:3 rw")));
    }

    @Test
    void wildcardMajorOrMinorLeavesItsTestOut() {
        assertEquals(PROLOGUE + """
                jne r2, 2, +3
                jne r5, 4, +2
                mov32 r0, 1
                exit
                jne r2, 1, +3
                jne r4, 7, +2
                mov32 r0, 1
                exit
                mov32 r0, 0
                exit
                """, listing(rule(true, "b 7:* rwm"), rule(true, "c *:4 rwm")));
    }

    @Test
    void instructionsAreEncodedAsStructBpfInsn() {
        DeviceFilter.Program p = DeviceFilter.compile(List.of(rule(true, "c 1:3 rw")));
        String hex = HexFormat.of().formatHex(p.encode(ByteOrder.LITTLE_ENDIAN));
        assertEquals(String.join("",
                "6112000000000000", // ldxw r2, [r1+0]: code, src<<4|dst, off, imm
                "54020000ffff0000", // and32 r2, 65535
                "6113000000000000",
                "7403000010000000",
                "6114040000000000",
                "6115080000000000",
                "5502070002000000", // jne r2, 2, +7
                "bc31000000000000", // mov32 r1, r3
                "5401000006000000",
                "5d31040000000000", // jne r1, r3, +4
                "5504030001000000",
                "5505020003000000",
                "b400000001000000",
                "9500000000000000",
                "b400000000000000",
                "9500000000000000"), hex);
        assertEquals("21", HexFormat.of().formatHex(p.encode(ByteOrder.BIG_ENDIAN), 1, 2), "dst in the high nibble");
    }

    @Test
    void specRulesComeBeforeRuncsDefaultsWithTheirPointers() {
        // the spec cannot take a default away: runc appends the defaults after the spec's rules
        DeviceFilter.Program full = DeviceFilter.forContainer(List.of(
                new Resources.DeviceRule(false, null, null, null, "rwm", null),
                new Resources.DeviceRule(false, "c", 1L, 7L, "rwm", null)));
        assertEquals(DeviceFilter.forContainer(List.of()), full);
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> DeviceFilter.forContainer(List.of(
                new Resources.DeviceRule(true, "a", null, null, "rwm", null),
                new Resources.DeviceRule(false, "c", null, null, "rwm", null))));
        // in allow-all mode the defaults would punch holes in the spec's "c *:* rwm" deny
        assertEquals("/linux/resources/devices", e.pointer());
        assertTrue(e.getMessage().contains("\"c 1:3 rwm\" (allow) cannot take access out of the broader rule "
                + "\"c *:* rw\""), e.getMessage());
    }

    @Test
    void punchingAHoleInAWildcardIsRefusedWithThePointer() {
        InvalidSpecException e = assertThrows(InvalidSpecException.class, () -> DeviceFilter.compile(List.of(
                rule(true, "c *:* m"), new DeviceFilter.Rule(false, 'c', 1, 3, DeviceFilter.ACC_MKNOD,
                        "/linux/resources/devices/1"))));
        assertEquals("/linux/resources/devices/1: the rule \"c 1:3 m\" (deny) cannot take access out of the broader "
                + "rule \"c *:* m\" before it (cgroup v1 would ignore it; runc refuses it)", e.getMessage());
        // no overlap in access: fine
        DeviceFilter.compile(List.of(rule(true, "c *:* m"), rule(false, "c 1:3 r")));
    }
}
