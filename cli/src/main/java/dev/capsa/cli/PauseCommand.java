package dev.capsa.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "pause", description = "Freeze every process of a running container.")
final class PauseCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Override
    public Integer call() {
        root.engine().pause(id);
        return 0;
    }
}
