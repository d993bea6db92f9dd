package dev.capsa.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "create", description = "Create a container: everything up to its process, which waits for start.")
final class CreateCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Mixin
    CreateFlags flags;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Override
    public Integer call() {
        root.engine().create(id, flags.bundleDir(), flags.options(false), flags.pidFileAbsolute());
        return 0;
    }
}
