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
            PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
            for (String[] args : runs) {
                CapsaCommand.execute(args, sink, sink);
            }
            return 0;
        } finally {
            try (Stream<Path> all = Files.walk(work)) {
                all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
