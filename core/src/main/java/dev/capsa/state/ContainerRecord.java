package dev.capsa.state;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the store keeps for one container in {@code <root>/<id>/state.json}. It holds facts
 * fixed at create time plus the backend's own data; the live status is never stored (only whether
 * create finished), because it is worked out from the system on every read.
 *
 * @param created      RFC 3339 time of create
 * @param createDone   false while create is under way (the OCI "creating" status, or a crash)
 * @param pid          the container process in the host's pid namespace, 0 before it exists
 * @param pidStartTime field 22 of /proc/PID/stat when the pid was recorded, so a reused pid is
 *                     never mistaken for the container
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"id", "backend", "bundle", "rootfs", "created", "owner", "createDone", "pid", "pidStartTime",
    "annotations", "data"})
public record ContainerRecord(String id, String backend, String bundle, String rootfs, String created, String owner,
                              boolean createDone, long pid, long pidStartTime, Map<String, String> annotations,
                              Map<String, String> data) {

    public ContainerRecord {
        annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
        data = data == null ? Map.of() : Map.copyOf(data);
    }

    public ContainerRecord withPid(long newPid, long startTime) {
        return new ContainerRecord(id, backend, bundle, rootfs, created, owner, createDone, newPid, startTime,
                annotations, data);
    }

    public ContainerRecord withCreateDone() {
        return new ContainerRecord(id, backend, bundle, rootfs, created, owner, true, pid, pidStartTime,
                annotations, data);
    }

    public ContainerRecord withData(String key, String value) {
        Map<String, String> copy = new TreeMap<>(data);
        copy.put(key, value);
        return new ContainerRecord(id, backend, bundle, rootfs, created, owner, createDone, pid, pidStartTime,
                annotations, copy);
    }
}
