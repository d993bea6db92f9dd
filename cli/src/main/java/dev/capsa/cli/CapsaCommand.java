package dev.capsa.cli;

import dev.capsa.os.Caller;
import com.google.inject.Guice;
import com.google.inject.Injector;
import com.google.inject.Stage;
import dev.capsa.cli.log.LogSink;
import dev.capsa.engine.Engine;
import dev.capsa.error.CapsaException;
import dev.capsa.plugin.CapsaModule;
import dev.capsa.plugin.CapsaSettings;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * The root command: runc's global flags and the subcommands. Global flags may stand before or
 * after the subcommand ({@code capsa --root R state x} or {@code capsa state --root R x}).
 */
@Command(name = "capsa",
        description = "An OCI container runtime with pluggable backends (ns: namespaces, vm: a KVM guest).",
        sortOptions = false, usageHelpAutoWidth = true)
public final class CapsaCommand implements Callable<Integer> {
    static final String DEFAULT_ROOT = "/run/capsa";

    @Option(names = "--root", scope = ScopeType.INHERIT, paramLabel = "DIR",
            description = "root directory for container state (default: " + DEFAULT_ROOT + ")")
    Path root;

    @Option(names = "--log", scope = ScopeType.INHERIT, paramLabel = "FILE",
            description = "write log lines to FILE instead of stderr")
    Path log;

    @Option(names = "--log-format", scope = ScopeType.INHERIT, paramLabel = "text|json",
            description = "log format: text (default) or json", converter = LogFormatConverter.class)
    LogSink.Format logFormat;

    @Option(names = "--debug", scope = ScopeType.INHERIT, description = "log debug messages")
    boolean debug;

    @Option(names = "--systemd-cgroup", scope = ScopeType.INHERIT,
            description = "read cgroupsPath as slice:prefix:name and let systemd manage the cgroup")
    boolean systemdCgroup;

    @Option(names = "--backend", scope = ScopeType.INHERIT, paramLabel = "NAME",
            description = "the backend for new containers (ns, vm, or a plugin's); overrides the default, and must "
                    + "agree with the dev.capsa.backend annotation")
    String backend;

    @Option(names = "--plugins", scope = ScopeType.INHERIT, paramLabel = "DIR",
            description = "plugins folder (default: $CAPSA_PLUGINS, else the distribution's plugins folder)")
    Path plugins;

    @Option(names = "--config", scope = ScopeType.INHERIT, paramLabel = "FILE",
            description = "Capsa's configuration file (default: $CAPSA_CONFIG, else /etc/capsa/config.json)")
    Path config;

    @Option(names = {"-v", "--version"}, description = "print the version, the OCI spec version and the backends")
    boolean version;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help")
    boolean help;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    PrintStream out;
    PrintStream err;
    private Injector injector;
    private Engine engine;

    /** The subcommands, in the order of the usage text. */
    static final List<Class<?>> SUBCOMMANDS = List.of(CreateCommand.class, RunCommand.class, StartCommand.class,
            StateCommand.class, KillCommand.class, DeleteCommand.class, ListCommand.class, PsCommand.class,
            ExecCommand.class, PauseCommand.class, ResumeCommand.class, EventsCommand.class, UpdateCommand.class,
            SpecCommand.class, FeaturesCommand.class, CheckpointCommand.class, RestoreCommand.class,
            AotTrainCommand.class);

    /** The root's options that take a value: what stands between them and the subcommand's name. */
    private static final Set<String> VALUED = Set.of("--root", "--log", "--log-format", "--backend", "--plugins",
            "--config");

    public static int execute(String[] args, PrintStream out, PrintStream err) {
        CapsaCommand root = new CapsaCommand();
        root.out = out;
        root.err = err;
        CommandLine cli = new CommandLine(root);
        // Only the named subcommand is built: picocli reads every option of a command by reflection,
        // and building all eighteen was the largest CPU cost of a warm server's command. Usage
        // errors and help, where picocli lists them, get them all.
        Class<?> named = subcommand(args);
        for (Class<?> type : SUBCOMMANDS) {
            if (named == null || type == named) {
                cli.addSubcommand(newInstance(type));
            }
        }
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        // runc stops reading exec's flags at the first argument: `exec c1 sh -c x` runs sh -c x
        CommandLine exec = cli.getSubcommands().get("exec");
        if (exec != null) {
            exec.setStopAtPositional(true);
        }
        cli.setExecutionStrategy(parsed -> {
            root.configureLogging();
            return new CommandLine.RunLast().execute(parsed);
        });
        cli.setExecutionExceptionHandler((e, commandLine, parsed) -> root.fail(e));
        cli.setExitCodeExceptionMapper(e -> e instanceof CommandLine.ParameterException ? 2 : 1);
        return cli.execute(args);
    }

    /** The subcommand the arguments name (its name or an alias, after the root's options), or null. */
    static Class<?> subcommand(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--")) {
                return null;
            }
            if (arg.startsWith("-")) {
                if (VALUED.contains(arg)) {
                    i++;
                }
                continue;
            }
            for (Class<?> type : SUBCOMMANDS) {
                Command command = type.getAnnotation(Command.class);
                if (command.name().equals(arg) || Arrays.asList(command.aliases()).contains(arg)) {
                    return type;
                }
            }
            return null;
        }
        return null;
    }

    private static Object newInstance(Class<?> type) {
        try {
            var constructor = type.getDeclaredConstructor();
            constructor.setAccessible(true);
            return constructor.newInstance();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot make subcommand " + type.getName(), e);
        }
    }

    @Override
    public Integer call() {
        if (version) {
            return new VersionReport(this).print();
        }
        spec.commandLine().usage(out); // with the subcommands added in execute()
        return 2;
    }

    private void configureLogging() {
        try {
            LogSink.configure(log, logFormat == null ? LogSink.Format.TEXT : logFormat, debug, err);
        } catch (IOException e) {
            throw new CapsaException("cannot open log file " + log + ": " + e.getMessage(), e);
        }
    }

    /** Exit 1 with the message on stderr, and as an error line in --log where the engines look for it. */
    private int fail(Exception e) {
        if (e instanceof dev.capsa.os.OwnProcessRequired) {
            return 1; // under the capsa server: the client runs the command again in a JVM of its own
        }
        String message = e instanceof CapsaException ? e.getMessage() : "internal error: " + e;
        if (LogSink.get().toFile()) {
            LogSink.get().write(org.slf4j.event.Level.ERROR, message);
        }
        err.println("capsa: " + message);
        if (debug || !(e instanceof CapsaException)) {
            LoggerFactory.getLogger(CapsaCommand.class).debug("stack trace", e);
            if (debug) {
                e.printStackTrace(err);
            }
        }
        return 1;
    }

    CapsaSettings settings() {
        CapsaConfig loaded = CapsaConfig.load(config);
        return new CapsaSettings(root == null ? Path.of(DEFAULT_ROOT) : root, pluginsDir(), backend,
                loaded.defaultBackend(), systemdCgroup, loaded.hooks(), loaded.backendOptions());
    }

    Path pluginsDir() {
        if (plugins != null) {
            return Caller.resolve(plugins);
        }
        String env = Caller.env("CAPSA_PLUGINS");
        if (env != null && !env.isBlank()) {
            return Caller.resolve(env);
        }
        String home = System.getProperty("capsa.home");
        return home != null ? Path.of(home, "plugins") : Caller.resolve("plugins");
    }

    /** The engine, built on first use: commands that don't need it (spec, --version) never pay for Guice. */
    Engine engine() {
        if (engine == null) {
            engine = injector().getInstance(Engine.class);
        }
        return engine;
    }

    /**
     * The injector for this command's settings. The capsa server runs many commands in one JVM and
     * keeps the injectors of the last few settings (state roots, plugin folders, configurations):
     * building one was the largest CPU cost of a short command. What a command must not share is
     * made per {@link Engine} (see {@link CapsaModule}).
     */
    Injector injector() {
        if (injector == null) {
            injector = INJECTORS.get(settings());
        }
        return injector;
    }

    /** A few injectors by settings; a JVM of its own holds one, the server up to {@link #MAX_INJECTORS}. */
    private static final class Injectors {
        private final java.util.LinkedHashMap<CapsaSettings, Injector> cache = new java.util.LinkedHashMap<>(16, 0.75f,
                true) {
            @Override
            protected boolean removeEldestEntry(java.util.Map.Entry<CapsaSettings, Injector> eldest) {
                return size() > MAX_INJECTORS;
            }
        };

        synchronized Injector get(CapsaSettings settings) {
            return cache.computeIfAbsent(settings, s -> Guice.createInjector(Stage.PRODUCTION, new CapsaModule(s)));
        }
    }

    private static final int MAX_INJECTORS = 8;
    private static final Injectors INJECTORS = new Injectors();

    static final class LogFormatConverter implements CommandLine.ITypeConverter<LogSink.Format> {
        @Override
        public LogSink.Format convert(String value) {
            return switch (value) {
                case "text" -> LogSink.Format.TEXT;
                case "json" -> LogSink.Format.JSON;
                default -> throw new CommandLine.TypeConversionException(
                        "invalid log format \"" + value + "\": use text or json");
            };
        }
    }
}
