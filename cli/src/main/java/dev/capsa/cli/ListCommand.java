package dev.capsa.cli;

import dev.capsa.engine.ContainerView;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

@Command(name = "list", aliases = "ls", description = "List containers.")
final class ListCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Option(names = {"-f", "--format"}, paramLabel = "table|json", defaultValue = "table",
            description = "table (default) or json")
    String format;

    @Option(names = {"-q", "--quiet"}, description = "print only the ids")
    boolean quiet;

    @Override
    public Integer call() {
        if (!format.equals("table") && !format.equals("json")) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                    "invalid format \"" + format + "\": use table or json");
        }
        List<ContainerView> views = root.engine().list();
        // a container whose state cannot be read is still listed (so that delete --force can be found);
        // the reason goes to stderr, where it does not disturb engines that parse the output
        views.stream().filter(v -> v.problem() != null).forEach(v -> root.err.println("capsa: warning: " + v.problem()));
        if (quiet) {
            views.forEach(v -> root.out.println(v.id()));
            return 0;
        }
        if (format.equals("json")) {
            List<StateJson> states = new ArrayList<>();
            views.forEach(v -> states.add(StateJson.of(v)));
            root.out.println(StateJson.indented(states));
            return 0;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"});
        for (ContainerView v : views) {
            String status = v.problem() != null ? "unknown" : v.status().json();
            rows.add(new String[] {v.id(), Long.toString(v.pid()), status,
                v.record() == null ? "" : v.record().bundle(), v.record() == null ? "" : v.record().created(),
                v.record() == null || v.record().owner() == null ? "" : v.record().owner()});
        }
        root.out.print(Table.render(rows));
        return 0;
    }
}
