package dev.capsa.cli;

import dev.capsa.error.CapsaException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.StringJoiner;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "ps", description = "List a container's processes; extra arguments go to ps(1) (default -ef).")
final class PsCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Option(names = {"-f", "--format"}, paramLabel = "table|json", defaultValue = "table",
            description = "table (ps output) or json (the pids)")
    String format;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Parameters(index = "1..*", paramLabel = "PS_ARGS", description = "arguments for ps(1)")
    List<String> psArgs = new ArrayList<>();

    @Override
    public Integer call() {
        List<Long> pids = root.engine().processes(id);
        if (format.equals("json")) {
            StringJoiner json = new StringJoiner(",", "[", "]");
            pids.forEach(p -> json.add(Long.toString(p)));
            root.out.println(json);
            return 0;
        }
        if (!format.equals("table")) {
            throw new CapsaException("invalid format \"" + format + "\": use table or json");
        }
        printTable(pids);
        return 0;
    }

    /** As runc does: run ps on the host and keep the header and the rows whose PID column is the container's. */
    private void printTable(List<Long> pids) {
        List<String> command = new ArrayList<>();
        command.add("ps");
        command.addAll(psArgs.isEmpty() ? List.of("-ef") : psArgs);
        Set<String> wanted = new HashSet<>();
        pids.forEach(p -> wanted.add(Long.toString(p)));
        try {
            Process ps = new ProcessBuilder(command).redirectErrorStream(true).start();
            try (BufferedReader in = new BufferedReader(new InputStreamReader(ps.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String header = in.readLine();
                if (header == null) {
                    throw new CapsaException("ps printed nothing");
                }
                int column = List.of(header.trim().split("\\s+")).indexOf("PID");
                if (column < 0) {
                    throw new CapsaException("ps output has no PID column: " + header.trim());
                }
                root.out.println(header);
                String line;
                while ((line = in.readLine()) != null) {
                    String[] fields = line.trim().split("\\s+");
                    if (fields.length > column && wanted.contains(fields[column])) {
                        root.out.println(line);
                    }
                }
            }
            ps.waitFor();
        } catch (IOException e) {
            throw new CapsaException("cannot run ps: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CapsaException("interrupted while running ps", e);
        }
    }
}
