package dev.capsa.cli;

import dev.capsa.os.Signals;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "kill", description = "Send a signal (default SIGTERM) to a container's process.")
final class KillCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Option(names = {"-a", "--all"}, description = "signal every process of the container")
    boolean all;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Parameters(index = "1", arity = "0..1", paramLabel = "SIGNAL", defaultValue = "SIGTERM",
            description = "a name (TERM, SIGTERM) or number (15)")
    String signal;

    @Override
    public Integer call() {
        int number = Signals.parse(signal);
        root.engine().kill(id, number, all);
        return 0;
    }
}
