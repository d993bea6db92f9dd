package dev.capsa.cli;

import dev.capsa.error.BackendUnavailableException;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

@Command(name = "restore", description = "Not supported: Capsa has no checkpoint/restore (CRIU) support.")
final class RestoreCommand implements Callable<Integer> {
    @Unmatched
    List<String> args;

    @Override
    public Integer call() {
        throw new BackendUnavailableException("restore is not supported by capsa");
    }
}
