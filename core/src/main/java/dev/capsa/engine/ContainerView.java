package dev.capsa.engine;

import dev.capsa.state.ContainerRecord;
import dev.capsa.state.OciState;
import dev.capsa.state.Status;

/**
 * One container as {@code state} and {@code list} show it: the stored record with the status
 * worked out just now. {@code record} is null, and {@code problem} says why, when the state file
 * could not be read.
 */
public record ContainerView(String id, ContainerRecord record, Status status, long pid, String ociVersion,
                            String problem) {

    /** The runtime.md state (what hooks see): no pid once the process is gone. */
    public OciState ociState() {
        Long p = pid > 0 ? pid : null;
        return new OciState(ociVersion, id, status.json(), p, record == null ? null : record.bundle(),
                record == null || record.annotations().isEmpty() ? null : record.annotations());
    }
}
