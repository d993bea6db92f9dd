package dev.capsa.engine;

import dev.capsa.spi.RuntimeBackend;
import java.util.List;

/** Finds backends by name; the plugin layer implements it so that only the named backend is loaded. */
public interface Backends {
    /** The backend, or a BackendUnavailableException that lists the names there are. */
    RuntimeBackend get(String name);

    /** Every backend name that can be found, without loading any of them where possible. */
    List<String> names();
}
