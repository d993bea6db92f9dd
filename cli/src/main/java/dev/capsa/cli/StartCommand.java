package dev.capsa.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "start", description = "Start a created container's process.")
final class StartCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Override
    public Integer call() {
        root.engine().start(id);
        return 0;
    }
}
