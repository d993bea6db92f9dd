package dev.capsa.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "run", description = "Create and start a container; in the foreground, wait and exit with its code.")
final class RunCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Mixin
    CreateFlags flags;

    @Option(names = {"-d", "--detach"}, description = "return once the container runs")
    boolean detach;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Override
    public Integer call() {
        return root.engine().run(id, flags.bundleDir(), flags.options(!detach), flags.pidFileAbsolute(), detach);
    }
}
