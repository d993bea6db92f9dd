package dev.capsa.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "resume", description = "Thaw a paused container.")
final class ResumeCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Override
    public Integer call() {
        root.engine().resume(id);
        return 0;
    }
}
