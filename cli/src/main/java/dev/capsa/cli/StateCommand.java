package dev.capsa.cli;

import dev.capsa.engine.ContainerView;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "state", description = "Print a container's state as JSON.")
final class StateCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Override
    public Integer call() {
        ContainerView view = root.engine().state(id);
        root.out.println(StateJson.indented(StateJson.of(view)));
        return 0;
    }
}
