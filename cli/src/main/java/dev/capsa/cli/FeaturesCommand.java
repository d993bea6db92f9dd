package dev.capsa.cli;

import dev.capsa.spi.RuntimeBackend;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/** features.md for the backend that --backend (or the configured default) selects. */
@Command(name = "features", description = "Print the features of the selected backend as JSON (features.md).")
final class FeaturesCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Override
    public Integer call() {
        String name = root.backend != null ? root.backend : root.settings().defaultBackend();
        RuntimeBackend backend = root.engine().backends().get(name);
        root.out.println(StateJson.indented(backend.features()));
        return 0;
    }
}
