package dev.capsa.cli;

import dev.capsa.os.Caller;
import dev.capsa.error.AlreadyExistsException;
import dev.capsa.error.CapsaException;
import dev.capsa.error.NotFoundException;
import dev.capsa.spec.DefaultSpec;
import dev.capsa.spec.Spec;
import dev.capsa.spec.SpecLoader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** Writes the same starting config.json as {@code runc spec}; loads no plugin and no engine. */
@Command(name = "spec", description = "Write a default config.json into the bundle.")
final class SpecCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Option(names = {"-b", "--bundle"}, paramLabel = "DIR", description = "bundle directory (default: the current one)")
    Path bundle;

    @Option(names = "--rootless", description = "a spec for a container run by an unprivileged user")
    boolean rootless;

    @Override
    public Integer call() {
        Path dir = Caller.resolve(bundle == null ? Path.of("") : bundle);
        if (!Files.isDirectory(dir)) {
            throw new NotFoundException("bundle directory " + dir + " does not exist");
        }
        Spec spec = DefaultSpec.example(DefaultSpec.hostHasUnifiedCgroup());
        if (rootless) {
            spec = DefaultSpec.rootless(spec, ids("-u"), ids("-g"));
        }
        Path file = dir.resolve("config.json");
        try {
            Files.write(file, SpecLoader.toJson(spec).getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE);
        } catch (FileAlreadyExistsException e) {
            throw new AlreadyExistsException(file + " already exists: remove it first");
        } catch (IOException e) {
            throw new CapsaException("cannot write " + file + ": " + e.getMessage(), e);
        }
        return 0;
    }

    /** The effective uid or gid, read from /proc/self/status so that spec needs no native library. */
    private static long ids(String which) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(which.equals("-u") ? "Uid:" : "Gid:")) {
                    return Long.parseLong(line.split("\\s+")[2]); // real, effective, saved, fs
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new CapsaException("cannot read the effective ids from /proc/self/status: " + e.getMessage(), e);
        }
        throw new CapsaException("/proc/self/status has no " + (which.equals("-u") ? "Uid" : "Gid") + " line");
    }
}
