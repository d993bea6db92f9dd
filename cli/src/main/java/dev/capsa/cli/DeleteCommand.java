package dev.capsa.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "delete", description = "Remove a stopped container, or with --force any container.")
final class DeleteCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Option(names = {"-f", "--force"}, description = "kill the container first if it is still alive")
    boolean force;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Override
    public Integer call() {
        root.engine().delete(id, force);
        return 0;
    }
}
