package dev.capsa.backend.ns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.backend.ns.cgroup.CgroupHost;
import dev.capsa.backend.ns.cgroup.CgroupManager;
import dev.capsa.backend.ns.cgroup.CgroupMode;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.Json;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ContainerCgroupTest {
    private static JsonNode json(String text) throws Exception {
        return Json.mapper().readTree(text.replace('\'', '"'));
    }

    @Test
    void anUpdateMergesFieldByFieldIntoTheLastResources() throws Exception {
        ObjectNode last = (ObjectNode) json("{'memory':{'limit':33554432,'swappiness':10},'pids':{'limit':5},"
                + "'devices':[{'allow':false,'access':'rwm'}]}");
        ContainerCgroup.merge(last, (ObjectNode) json("{'memory':{'limit':67108864,'reservation':null},"
                + "'cpu':{'shares':512}}"));
        assertEquals(json("{'memory':{'limit':67108864,'swappiness':10},'pids':{'limit':5},"
                + "'devices':[{'allow':false,'access':'rwm'}],'cpu':{'shares':512}}"), last);
    }

    @Test
    void aTypeErrorInAnUpdateNamesTheField() throws Exception {
        InvalidSpecException e = assertThrows(InvalidSpecException.class,
                () -> ContainerCgroup.toResources(json("{'memory':{'limit':'lots'}}")));
        assertEquals("/linux/resources/memory/limit", e.pointer());
    }

    @Test
    void theRecordedCgroupReopensTheSameDirectories() {
        Map<String, Path> paths = new LinkedHashMap<>();
        paths.put("memory", Path.of("/sys/fs/cgroup/memory/process_api/x/c1"));
        paths.put("cpu,cpuacct", Path.of("/sys/fs/cgroup/cpu,cpuacct/c1"));
        paths.put("name=systemd", Path.of("/sys/fs/cgroup/systemd/c1"));
        paths.put("", Path.of("/sys/fs/cgroup/unified/c1"));
        CgroupManager m = CgroupHost.reopen(CgroupMode.V1, paths);
        CgroupManager back = ContainerCgroup.decode(ContainerCgroup.encode(m));
        assertEquals(CgroupMode.V1, back.mode());
        assertEquals(paths, back.paths());
    }
}
