package dev.capsa.backend.vm;

import dev.capsa.error.BackendUnavailableException;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spi.Availability;
import dev.capsa.spi.ContainerContext;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.Features;
import dev.capsa.spi.RuntimeBackend;
import dev.capsa.state.Status;
import java.util.List;
import org.pf4j.Extension;

/**
 * The vm backend (one KVM guest per container). Not built yet: it reports itself unavailable
 * with that reason, and every operation says so, instead of pretending.
 */
@Extension
public final class VmBackend implements RuntimeBackend {
    static final String NAME = "vm";
    private static final String WHY = "the vm backend is not implemented yet in this build";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Availability probe() {
        return Availability.no(WHY);
    }

    @Override
    public Features features() {
        // nothing is implemented, so nothing is claimed
        return new Features(DefaultSpec.OCI_VERSION_MIN, DefaultSpec.OCI_VERSION, List.of(), List.of(),
                new Features.Linux(List.of(), List.of(), null, null, null, null, null, null, null), null, null);
    }

    @Override
    public void create(ContainerContext ctx, CreateOptions options) {
        throw BackendUnavailableException.unsupported(NAME, "create (" + WHY + ")");
    }

    @Override
    public void start(ContainerContext ctx) {
        throw BackendUnavailableException.unsupported(NAME, "start");
    }

    @Override
    public Status status(ContainerContext ctx) {
        throw BackendUnavailableException.unsupported(NAME, "state");
    }

    @Override
    public void kill(ContainerContext ctx, int signal, boolean all) {
        throw BackendUnavailableException.unsupported(NAME, "kill");
    }

    @Override
    public void delete(ContainerContext ctx, boolean force) {
        throw BackendUnavailableException.unsupported(NAME, "delete");
    }
}
