package dev.capsa.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/**
 * Hidden: the training run for JDK 25's AOT cache. The build runs it once with
 * {@code -XX:AOTCacheOutput}; it drives, in this one JVM, the commands that need no container
 * (their classes are what every command loads first), so later runs start from the cache.
 */
@Command(name = "aot-train", hidden = true, description = "Exercise commands for an AOT cache training run.")
final class AotTrainCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Override
    public Integer call() throws IOException {
        Path work = Files.createTempDirectory("capsa-aot-train");
        try {
            Path bundle = Files.createDirectories(work.resolve("bundle/rootfs")).getParent();
            String stateRoot = work.resolve("root").toString();
            String plugins = root.pluginsDir().toString();
            List<String[]> runs = new ArrayList<>();
            runs.add(new String[] {"--root", stateRoot, "--plugins", plugins, "--version"});
            runs.add(new String[] {"--root", stateRoot, "spec", "--bundle", bundle.toString()});
            // parses and validates the whole config.json, then stops at the backend lookup
            runs.add(new String[] {"--root", stateRoot, "--plugins", plugins, "--backend=aot-train-none", "create",
                "--bundle", bundle.toString(), "aot-train"});
            runs.add(new String[] {"--root", stateRoot, "--plugins", plugins, "list"});
            runs.add(new String[] {"--root", stateRoot, "--plugins", plugins, "list", "--format", "json"});
            runs.add(new String[] {"--root", stateRoot, "--plugins", plugins, "state", "aot-missing"});
            runs.add(new String[] {"--root", stateRoot, "--plugins", plugins, "start", "aot-missing"});
            runs.add(new String[] {"--root", stateRoot, "--plugins", plugins, "--backend=ns", "features"});
            runs.add(new String[] {"--root", stateRoot, "--plugins", plugins, "--log-format", "json", "delete",
                "--force", "aot-missing"});
            runs.add(new String[] {"--root", stateRoot, "no-such-command"});
            // each subcommand's options, since a command builds only the subcommand it runs
            for (Class<?> type : CapsaCommand.SUBCOMMANDS) {
                runs.add(new String[] {type.getAnnotation(Command.class).name(), "--help"});
            }
            PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
            for (String[] args : runs) {
                CapsaCommand.execute(args, sink, sink);
            }
            lifecycle(bundle, stateRoot, plugins, sink);
            return 0;
        } finally {
            try (Stream<Path> all = Files.walk(work)) {
                all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /**
     * A real container's lifecycle with the ns backend, where the build can run one (as root, with
     * busybox-static): run in the foreground, then create, start, state, exec, kill, delete. What
     * an engine's commands load then comes from the cache too. Skipped, with a line saying why,
     * anywhere else: the cache is still valid, only smaller.
     */
    private void lifecycle(Path bundle, String stateRoot, String plugins, PrintStream sink) throws IOException {
        Path busybox = Path.of("/bin/busybox");
        // the ns backend's own test for root (NamespaceBackend.probe)
        if (!"root".equals(System.getProperty("user.name")) || !Files.isExecutable(busybox)) {
            root.err.println("capsa aot-train: no container lifecycle in the training (it needs root and "
                    + busybox + "); the cache covers the commands without one");
            return;
        }
        Path bin = Files.createDirectories(bundle.resolve("rootfs/bin"));
        Files.copy(busybox, bin.resolve("busybox"));
        for (String applet : List.of("sh", "true", "sleep")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Path config = bundle.resolve("config.json");
        com.fasterxml.jackson.databind.node.ObjectNode spec = (com.fasterxml.jackson.databind.node.ObjectNode)
                dev.capsa.spec.Json.mapper().readTree(config.toFile());
        com.fasterxml.jackson.databind.node.ObjectNode process = (com.fasterxml.jackson.databind.node.ObjectNode)
                spec.get("process");
        process.put("terminal", false);
        process.putArray("args").add("true");
        Files.write(config, dev.capsa.spec.Json.mapper().writeValueAsBytes(spec));
        String id = "aot-train-" + ProcessHandle.current().pid();
        String[] common = {"--root", stateRoot, "--plugins", plugins, "--backend=ns"};
        List<String[]> steps = List.of(
                new String[] {"run", "--bundle", bundle.toString(), id},
                new String[] {"create", "--bundle", bundle.toString(), id},
                new String[] {"state", id},
                new String[] {"list", "--format", "json"},
                new String[] {"start", id},
                new String[] {"state", id},
                new String[] {"delete", id},
                new String[] {"delete", "--force", id});
        try {
            for (String[] step : steps) {
                String[] args = new String[common.length + step.length];
                System.arraycopy(common, 0, args, 0, common.length);
                System.arraycopy(step, 0, args, common.length, step.length);
                int rc = CapsaCommand.execute(args, sink, sink);
                if (rc != 0) {
                    root.err.println("capsa aot-train: `" + String.join(" ", step) + "` exited " + rc
                            + "; the training goes on without it");
                }
            }
        } finally {
            CapsaCommand.execute(new String[] {"--root", stateRoot, "--plugins", plugins, "delete", "--force", id},
                    sink, sink);
        }
    }
}
