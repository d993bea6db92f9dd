package dev.capsa.hooks;

import dev.capsa.engine.HookRunner;
import dev.capsa.error.CapsaException;
import dev.capsa.error.HookFailedException;
import dev.capsa.plugin.CapsaSettings;
import dev.capsa.spec.Hook;
import dev.capsa.spec.Mount;
import dev.capsa.spec.Spec;
import dev.capsa.spec.SpecLoader;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.LifecycleHook;
import dev.capsa.state.ContainerIds;
import dev.capsa.state.OciState;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.pf4j.Extension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hook plugin "hooks.d": runs the hooks that podman's and CRI-O's hooks.d directories define
 * (oci-hooks(5), schema 1.0.0) for the host-side stages, with the runner of config.json hooks.
 *
 * <p>Directories, in increasing precedence (a file masks one of the same name in an earlier
 * directory): configuration key {@code hooksDirs}, else {@link #DEFAULT_DIRS}. Matching hooks run
 * in the order of their lower-cased file names, as containers/common injects them. A hook that
 * config.json already holds for the same stage is not run again: podman and CRI-O inject hooks.d
 * into config.json themselves before they call the runtime.
 */
@Extension(ordinal = 20)
public final class HooksDirLoader implements LifecycleHook {
    private static final Logger LOG = LoggerFactory.getLogger(HooksDirLoader.class);
    public static final String NAME = "hooks.d";
    public static final List<Path> DEFAULT_DIRS = List.of(Path.of("/usr/share/containers/oci/hooks.d"),
            Path.of("/etc/containers/oci/hooks.d"));
    /** createContainer and startContainer run inside the container, where only config.json's hooks reach. */
    static final Set<HookPhase> PHASES = EnumSet.of(HookPhase.PRESTART, HookPhase.CREATE_RUNTIME,
            HookPhase.POSTSTART, HookPhase.POSTSTOP);

    private final List<Path> dirs;
    private final Path root;
    private final HookRunner runner;
    private List<HookDefinition> definitions;

    @Inject
    public HooksDirLoader(CapsaSettings settings, HookRunner runner) {
        this(settings.hooks().dirs() == null ? DEFAULT_DIRS : settings.hooks().dirs(), settings.root(), runner);
    }

    HooksDirLoader(List<Path> dirs, Path root, HookRunner runner) {
        this.dirs = List.copyOf(dirs);
        this.root = root;
        this.runner = runner;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Set<HookPhase> phases() {
        return PHASES;
    }

    @Override
    public void run(HookPhase phase, OciState state) {
        List<HookDefinition> due = definitions().stream().filter(d -> d.stages().contains(phase.specName())).toList();
        if (due.isEmpty()) {
            return;
        }
        Spec spec = spec(state);
        boolean bindMounts = hasBindMounts(spec);
        List<Hook> inSpec = spec.hooks() == null ? List.of() : spec.hooks().of(phase.specName());
        for (HookDefinition definition : due) {
            boolean match;
            try {
                match = definition.when().matches(spec, spec.annotations(), bindMounts);
            } catch (IllegalArgumentException e) {
                LOG.warn("hooks.d {}: container \"{}\": {}; skipped", definition.file(), state.id(), e.getMessage());
                continue;
            }
            if (!match) {
                continue;
            }
            if (inSpec.stream().anyMatch(h -> same(h, definition.hook()))) {
                LOG.debug("hooks.d {}: already in config.json's {} hooks; not run twice", definition.file(),
                        phase.specName());
                continue;
            }
            try {
                runner.run(phase, definition.hook(), state);
            } catch (HookFailedException e) {
                if (Thread.currentThread().isInterrupted()) {
                    return; // the dispatcher gave up on this plugin (its time ran out) and said so
                }
                HookFailedException named = new HookFailedException(e.getMessage() + " (from " + definition.file()
                        + ")", e);
                if (phase.fatal()) {
                    throw named;
                }
                LOG.warn("{} (the lifecycle goes on)", named.getMessage());
            }
        }
    }

    private synchronized List<HookDefinition> definitions() {
        if (definitions == null) {
            definitions = load(dirs, LOG::warn);
        }
        return definitions;
    }

    /**
     * The usable definitions of these directories, in run order. Every file that cannot be used is
     * reported (by its path and the field at fault) and skipped; the others still load.
     */
    static List<HookDefinition> load(List<Path> dirs, Consumer<String> warn) {
        TreeMap<String, HookDefinition> byName = new TreeMap<>(
                Comparator.comparing((String n) -> n.toLowerCase(Locale.ROOT)).thenComparing(n -> n));
        for (Path dir : dirs) {
            List<Path> files = new ArrayList<>();
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, "*.json")) {
                entries.forEach(files::add);
            } catch (NoSuchFileException e) {
                continue; // as podman: a hooks directory that does not exist has no hooks
            } catch (IOException e) {
                warn.accept("hooks.d " + dir + ": cannot list it: " + e.getMessage());
                continue;
            }
            for (Path file : files) {
                HookDefinition definition;
                try {
                    definition = HookDefinition.read(file);
                } catch (HookDefinition.Invalid e) {
                    warn.accept("hooks.d " + file + ": " + e.getMessage() + "; skipped");
                    continue;
                }
                if (definition.when().isEmpty()) {
                    warn.accept("hooks.d " + file + ": when: sets no condition, so it never matches; skipped");
                    continue;
                }
                List<String> stages = new ArrayList<>();
                for (String stage : definition.stages()) {
                    if (stage.equals("createContainer") || stage.equals("startContainer")) {
                        warn.accept("hooks.d " + file + ": stages: " + stage + " is not supported for hooks.d"
                                + " entries (it runs inside the container); that stage is skipped");
                    } else {
                        stages.add(stage);
                    }
                }
                byName.put(file.getFileName().toString(),
                        new HookDefinition(file, definition.hook(), definition.when(), List.copyOf(stages)));
            }
        }
        return List.copyOf(byName.values());
    }

    /** The engine's copy of config.json, else the bundle's. */
    private Spec spec(OciState state) {
        Path copy = root.resolve(ContainerIds.check(state.id())).resolve("config.json");
        try {
            return SpecLoader.parse(Files.readAllBytes(copy));
        } catch (IOException e) {
            LOG.debug("container \"{}\": no spec copy at {} ({}); reading the bundle", state.id(), copy, e.getMessage());
        }
        try {
            return SpecLoader.load(Path.of(state.bundle()));
        } catch (CapsaException | NullPointerException e) {
            throw new HookFailedException("hooks.d: cannot read the spec of container \"" + state.id() + "\": "
                    + e.getMessage(), e);
        }
    }

    /**
     * podman passes "the user asked for volumes"; a runtime sees only the spec, where podman's own
     * /etc/hosts and resolv.conf are bind mounts too. Capsa counts every bind mount.
     */
    static boolean hasBindMounts(Spec spec) {
        if (spec.mounts() == null) {
            return false;
        }
        for (Mount mount : spec.mounts()) {
            if ("bind".equals(mount.type())
                    || (mount.options() != null && (mount.options().contains("bind") || mount.options().contains("rbind")))) {
                return true;
            }
        }
        return false;
    }

    private static boolean same(Hook a, Hook b) {
        return Objects.equals(a.path(), b.path()) && Objects.equals(a.args(), b.args()) && Objects.equals(a.env(), b.env());
    }
}
