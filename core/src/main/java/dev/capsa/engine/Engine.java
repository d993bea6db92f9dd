package dev.capsa.engine;

import com.fasterxml.jackson.databind.JsonNode;
import dev.capsa.error.BackendUnavailableException;
import dev.capsa.error.CapsaException;
import dev.capsa.error.NotFoundException;
import dev.capsa.error.WrongStateException;
import dev.capsa.fault.FaultStep;
import dev.capsa.fault.Faults;
import dev.capsa.os.Os;
import dev.capsa.spec.Spec;
import dev.capsa.spec.SpecLoader;
import dev.capsa.spec.SpecValidator;
import dev.capsa.spi.Availability;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.ExecOptions;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.RuntimeBackend;
import dev.capsa.state.ContainerIds;
import dev.capsa.state.ContainerLock;
import dev.capsa.state.ContainerRecord;
import dev.capsa.state.StateStore;
import dev.capsa.state.Status;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place that enforces runtime.md: which operation is allowed in which status, the order
 * of the hooks, and which backend a container belongs to. Every command that changes a container
 * holds its lock from the first read to the last write.
 */
public final class Engine {
    private static final Logger LOG = LoggerFactory.getLogger(Engine.class);

    private final StateStore store;
    private final Backends backends;
    private final HookDispatcher hooks;
    private final Os os;
    private final EngineSettings settings;

    public Engine(StateStore store, Backends backends, HookDispatcher hooks, Os os, EngineSettings settings) {
        this.store = store;
        this.backends = backends;
        this.hooks = hooks;
        this.os = os;
        this.settings = settings;
    }

    public StateStore store() {
        return store;
    }

    /** The backend that {@code create} would pick for this spec. */
    public String chooseBackend(Spec spec) {
        String annotation = spec.annotations() == null ? null : spec.annotations().get(BackendSelector.ANNOTATION);
        return BackendSelector.choose(settings.backendFlag(), annotation, settings.defaultBackend());
    }

    /** runtime.md create: everything up to the user's process, which waits for start. */
    public ContainerView create(String id, Path bundle, CreateOptions options, Path pidFile) {
        ContainerIds.check(id);
        Path absBundle = dev.capsa.os.Caller.resolve(bundle);
        Spec spec = SpecLoader.load(absBundle);
        SpecValidator.validate(spec, absBundle);
        String backendName = chooseBackend(spec);
        RuntimeBackend backend = availableBackend(backendName);
        ownProcessUnlessLaunchedThroughCaller(backend);

        ContainerLock lock = store.createAndLock(id);
        StoredContainer container = null;
        try {
            ContainerRecord record = new ContainerRecord(id, backendName, absBundle.toString(),
                    rootfs(spec, absBundle).toString(), now(), owner(), false, 0, 0, spec.annotations(), null);
            store.write(lock, record);
            Files.write(store.dir(id).resolve(StoredContainer.SPEC_COPY), SpecLoader.toJson(spec)
                    .getBytes(StandardCharsets.UTF_8));
            container = new StoredContainer(store, lock, record, spec, os, this::hookReached);
            Faults.at(FaultStep.CREATE_STATE_WRITTEN);
            backend.create(container, options);
            if (container.pid().isEmpty()) {
                throw new CapsaException("backend " + backendName + " created container \"" + id
                        + "\" without recording its pid");
            }
            // a backend that has no natural point for the host-side hooks gets them run here
            hookReached(container, HookPhase.CREATE_RUNTIME);
            // createContainer: config.json's ran inside the container during create (by the backend);
            // the hook plugins come after them, on the host
            createContainerPlugins(container);
            Faults.at(FaultStep.CREATE_CONTAINER_HOOKS_RUN);
            container.update(container.record().withCreateDone());
            Faults.at(FaultStep.CREATE_DONE_WRITTEN);
            if (pidFile != null) {
                writePidFile(pidFile, container.record().pid());
            }
            return view(container, backend);
        } catch (RuntimeException | IOException | Error e) {
            undoCreate(backend, container, lock, id);
            if (e instanceof IOException io) {
                throw new CapsaException("cannot create container \"" + id + "\": " + io.getMessage(), io);
            }
            if (e instanceof RuntimeException re) {
                throw re;
            }
            throw (Error) e;
        } finally {
            lock.close();
        }
    }

    private void undoCreate(RuntimeBackend backend, StoredContainer container, ContainerLock lock, String id) {
        if (container != null) {
            try {
                backend.delete(container, true);
            } catch (RuntimeException cleanup) {
                LOG.warn("container \"{}\": cleanup after a failed create: {}", id, cleanup.getMessage());
            }
        }
        try {
            store.remove(lock);
        } catch (RuntimeException cleanup) {
            LOG.warn("container \"{}\": cannot remove its state after a failed create: {}", id, cleanup.getMessage());
        }
    }

    /** runtime.md start: only a created container starts; then the poststart hooks run. */
    public void start(String id) {
        locked(id, "start", EnumSet.of(Status.CREATED), (container, backend) -> {
            // hook plugins of startContainer run on the host; its config.json hooks run inside, by the backend
            runPhase(container, backend, HookPhase.START_CONTAINER);
            Faults.at(FaultStep.START_CONTAINER_HOOKS_RUN);
            backend.start(container);
            Faults.at(FaultStep.START_RELEASED);
            runPhase(container, backend, HookPhase.POSTSTART);
            Faults.at(FaultStep.START_POSTSTART_RUN);
            return null;
        });
    }

    public ContainerView state(String id) {
        ContainerIds.check(id);
        Optional<ContainerRecord> record = store.read(id);
        if (record.isEmpty()) {
            return new ContainerView(id, null, Status.CREATING, 0, null, null); // create has written no record yet
        }
        StoredContainer container = new StoredContainer(store, null, record.get(), null, os, this::hookReached);
        return view(container, backendOf(container));
    }

    /** Every container; one whose state cannot be read is listed with the reason instead of failing the list. */
    public List<ContainerView> list() {
        List<ContainerView> views = new ArrayList<>();
        for (String id : store.ids()) {
            try {
                views.add(state(id));
            } catch (NotFoundException gone) {
                // deleted while we listed
            } catch (CapsaException e) {
                views.add(new ContainerView(id, null, Status.STOPPED, 0, null, e.getMessage()));
            }
        }
        return views;
    }

    /**
     * runtime.md kill: a created or running (or paused) container only. As runc, {@code kill --all}
     * of a stopped container signals whatever is left of it: containerd's runc shim sends it when
     * the init of a container without its own pid namespace (a Kubernetes pod's shared one) exits,
     * and treats a failure as a failed stop. A stopped container's error says "container not
     * running", runc's words, which the shim reads as "process already finished".
     */
    public void kill(String id, int signal, boolean all) {
        locked(id, "kill", all ? KILLABLE_ALL : LIVE, (container, backend) -> {
            backend.kill(container, signal, all);
            return null;
        });
    }

    /**
     * runtime.md delete: a stopped container, or any with force. A container whose state is
     * missing or corrupt can still be removed with force, so a crash never leaves a stuck id.
     */
    public void delete(String id, boolean force) {
        ContainerLock lock;
        try {
            lock = store.lock(ContainerIds.check(id));
        } catch (NotFoundException e) {
            if (force) {
                return; // runc: delete --force of a missing container succeeds, engines rely on it
            }
            throw e;
        }
        try {
            Optional<ContainerRecord> record;
            try {
                record = store.read(id);
            } catch (NotFoundException e) {
                throw e;
            } catch (CapsaException corrupt) {
                if (!force) {
                    throw corrupt;
                }
                LOG.warn("{}; removing it", corrupt.getMessage());
                deleteOrphan(id);
                store.remove(lock);
                return;
            }
            if (record.isEmpty()) {
                if (!force) {
                    throw new WrongStateException("cannot delete container \"" + id
                            + "\": it is creating (use --force to remove what a failed create left)");
                }
                deleteOrphan(id);
                store.remove(lock);
                return;
            }
            StoredContainer container = new StoredContainer(store, lock, record.get(), null, os, this::hookReached);
            RuntimeBackend backend = backendOf(container);
            Status status = status(container, backend);
            if (status != Status.STOPPED && !force) {
                throw new WrongStateException("cannot delete container \"" + id + "\": it is " + status.json()
                        + " (stop it first, or use --force)");
            }
            backend.delete(container, force);
            Faults.at(FaultStep.DELETE_BACKEND_DONE);
            if (record.get().createDone()) {
                runPhase(container, backend, HookPhase.POSTSTOP);
            }
            Faults.at(FaultStep.DELETE_POSTSTOP_RUN);
            store.remove(lock);
        } finally {
            lock.close();
        }
    }

    /**
     * runc run: create and start; in the foreground wait for the process, remove the container and
     * return its exit code. Detached, return 0 once it runs.
     */
    public int run(String id, Path bundle, CreateOptions options, Path pidFile, boolean detach) {
        create(id, bundle, options, pidFile);
        try {
            start(id);
        } catch (RuntimeException e) {
            deleteQuietly(id);
            throw e;
        }
        if (detach) {
            return 0;
        }
        int code;
        try {
            // waiting holds no lock: kill and state from other commands must get through
            StoredContainer container = readOnly(id);
            code = backendOf(container).waitExit(container);
        } catch (RuntimeException e) {
            deleteQuietly(id);
            throw e;
        }
        delete(id, true);
        return code;
    }

    private void deleteQuietly(String id) {
        try {
            delete(id, true);
        } catch (RuntimeException cleanup) {
            LOG.warn("container \"{}\": cleanup: {}", id, cleanup.getMessage());
        }
    }

    public int exec(String id, ExecOptions options) {
        StoredContainer container = locked(id, "exec in", EnumSet.of(Status.CREATED, Status.RUNNING), (c, b) -> {
            ownProcessUnlessLaunchedThroughCaller(b);
            Faults.at(FaultStep.EXEC_CHECKED);
            return c;
        });
        // the exec'd process may run for long; it must not hold the container's lock
        return backendOf(container).exec(container, options);
    }

    public void pause(String id) {
        locked(id, "pause", EnumSet.of(Status.RUNNING), (container, backend) -> {
            backend.pause(container);
            return null;
        });
    }

    public void resume(String id) {
        locked(id, "resume", EnumSet.of(Status.PAUSED), (container, backend) -> {
            backend.resume(container);
            return null;
        });
    }

    /** The config.json the container was created from. */
    public Spec spec(String id) {
        return readOnly(id).spec();
    }

    public List<Long> processes(String id) {
        StoredContainer container = readOnly(id);
        return backendOf(container).processes(container);
    }

    public void update(String id, JsonNode resources) {
        locked(id, "update", LIVE, (container, backend) -> {
            backend.update(container, resources);
            return null;
        });
    }

    /** The container's OOM kill count (-1: the backend cannot tell), read without a lock as state is. */
    public long oomKills(String id) {
        ContainerIds.check(id);
        Optional<ContainerRecord> record = store.read(id);
        if (record.isEmpty()) {
            return -1;
        }
        StoredContainer container = new StoredContainer(store, null, record.get(), null, os, this::hookReached);
        return backendOf(container).oomKills(container);
    }

    public JsonNode stats(String id) {
        StoredContainer container = readOnly(id);
        RuntimeBackend backend = backendOf(container);
        Status status = status(container, backend);
        if (status == Status.STOPPED) {
            throw new WrongStateException("container \"" + id + "\" is stopped: it has no statistics");
        }
        return backend.stats(container);
    }

    /**
     * A container without a readable record: its backend, chosen again from the copy of its
     * config.json in the state directory, removes what it can find from the id and the spec. A
     * copy that cannot be read leaves nothing to go by: a warning says so.
     */
    private void deleteOrphan(String id) {
        Path copy = store.dir(id).resolve(StoredContainer.SPEC_COPY);
        if (!Files.exists(copy)) {
            return;
        }
        try {
            Spec spec = SpecLoader.parse(Files.readAllBytes(copy));
            backends.get(chooseBackend(spec)).deleteOrphan(id, spec);
        } catch (IOException | RuntimeException e) {
            LOG.warn("container \"{}\": cannot clean up after its lost state: {}", id, e.getMessage());
        }
    }

    private static void ownProcessUnlessLaunchedThroughCaller(RuntimeBackend backend) {
        if (!backend.launchesThroughCaller()) {
            dev.capsa.os.Caller.current().launcher().requireOwnProcess("backend " + backend.name()
                    + " starts its processes itself");
        }
    }

    /** A backend that exists and can run here, or a clear error naming it and why not. */
    public RuntimeBackend availableBackend(String name) {
        RuntimeBackend backend = backends.get(name);
        Availability availability = backend.probe();
        if (!availability.available()) {
            throw new BackendUnavailableException("backend " + name + " is unavailable: " + availability.reason());
        }
        return backend;
    }

    public Backends backends() {
        return backends;
    }

    // ---- internals

    /** runtime.md: kill (and update) apply to a container whose process exists. */
    private static final Set<Status> LIVE = EnumSet.of(Status.CREATED, Status.RUNNING, Status.PAUSED);
    private static final Set<Status> KILLABLE_ALL = EnumSet.of(Status.CREATED, Status.RUNNING, Status.PAUSED,
            Status.STOPPED);

    private interface LockedOperation<T> {
        T apply(StoredContainer container, RuntimeBackend backend);
    }

    /** Runs an operation under the container's lock, if its live status is one the operation allows. */
    private <T> T locked(String id, String verb, Set<Status> allowed, LockedOperation<T> operation) {
        try (ContainerLock lock = store.lock(ContainerIds.check(id))) {
            StoredContainer container = load(id, lock);
            RuntimeBackend backend = backendOf(container);
            Status status = status(container, backend);
            if (!allowed.contains(status)) {
                // runc's ErrNotRunning text, which containerd's shim and Docker match on
                String why = status == Status.STOPPED && verb.equals("kill") ? "container not running"
                        : "it is " + status.json();
                throw new WrongStateException("cannot " + verb + " container \"" + id + "\": " + why);
            }
            return operation.apply(container, backend);
        }
    }

    private StoredContainer readOnly(String id) {
        ContainerIds.check(id);
        ContainerRecord record = store.read(id).orElseThrow(() -> new WrongStateException(
                "container \"" + id + "\" is creating"));
        return new StoredContainer(store, null, record, null, os, this::hookReached);
    }

    private StoredContainer load(String id, ContainerLock lock) {
        ContainerRecord record = store.read(id).orElseThrow(() -> new WrongStateException(
                "container \"" + id + "\" is creating (a failed create leaves this: delete --force removes it)"));
        return new StoredContainer(store, lock, record, null, os, this::hookReached);
    }

    private RuntimeBackend backendOf(StoredContainer container) {
        String name = container.record().backend();
        if (name == null) {
            throw new CapsaException("state of container \"" + container.id() + "\" names no backend");
        }
        return backends.get(name);
    }

    private Status status(StoredContainer container, RuntimeBackend backend) {
        if (!container.record().createDone()) {
            // a create that died after its process did (capsa or capsa-init killed half-way): nothing
            // is being made any more, and runc calls a container whose init is gone stopped
            return container.pid().isPresent() && !container.processAlive() ? Status.STOPPED : Status.CREATING;
        }
        return backend.status(container);
    }

    private ContainerView view(StoredContainer container, RuntimeBackend backend) {
        Status status = status(container, backend);
        OptionalLong pid = status == Status.STOPPED ? OptionalLong.empty() : container.pid();
        String version = null;
        try {
            version = container.spec().ociVersion();
        } catch (CapsaException e) {
            LOG.debug("container \"{}\": {}", container.id(), e.getMessage());
        }
        return new ContainerView(container.id(), container.record(), status, pid.orElse(0), version, null);
    }

    private void runPhase(StoredContainer container, RuntimeBackend backend, HookPhase phase) {
        Status status = status(container, backend);
        long pid = status == Status.STOPPED ? 0 : container.pid().orElse(0);
        ContainerView view = new ContainerView(container.id(), container.record(), status, pid,
                container.spec().ociVersion(), null);
        hooks.run(phase, container.spec(), view.ociState(), !phase.insideContainer());
        container.markRan(phase);
    }

    /**
     * A backend reached a hook point during create: prestart and createRuntime run there. Each phase
     * runs once per command.
     */
    private void hookReached(StoredContainer container, HookPhase phase) {
        if (phase != HookPhase.CREATE_RUNTIME) {
            throw new IllegalArgumentException("backends report only the createRuntime point, not " + phase.specName());
        }
        if (container.ran(HookPhase.CREATE_RUNTIME)) {
            return;
        }
        Spec spec = container.spec();
        dev.capsa.state.OciState state = new ContainerView(container.id(), container.record(), Status.CREATING,
                container.pid().orElse(0), spec.ociVersion(), null).ociState();
        hooks.run(HookPhase.PRESTART, spec, state, true);
        container.markRan(HookPhase.PRESTART);
        hooks.run(HookPhase.CREATE_RUNTIME, spec, state, true);
        container.markRan(HookPhase.CREATE_RUNTIME);
        Faults.at(FaultStep.CREATE_RUNTIME_HOOKS_RUN);
    }

    private void createContainerPlugins(StoredContainer container) {
        if (container.ran(HookPhase.CREATE_CONTAINER)) {
            return;
        }
        Spec spec = container.spec();
        dev.capsa.state.OciState state = new ContainerView(container.id(), container.record(), Status.CREATING,
                container.pid().orElse(0), spec.ociVersion(), null).ociState();
        hooks.run(HookPhase.CREATE_CONTAINER, spec, state, false);
        container.markRan(HookPhase.CREATE_CONTAINER);
    }

    private static Path rootfs(Spec spec, Path bundle) {
        Path root = Path.of(spec.root().path());
        return root.isAbsolute() ? root.normalize() : bundle.resolve(root).normalize();
    }

    private static String now() {
        return DateTimeFormatter.ISO_OFFSET_DATE_TIME.format(Instant.now().atOffset(ZoneOffset.UTC));
    }

    private static String owner() {
        String user = System.getProperty("user.name");
        return user == null ? "" : user;
    }

    private static void writePidFile(Path pidFile, long pid) throws IOException {
        // runc writes the pid file atomically: a reader never sees it half-written
        Path abs = dev.capsa.os.Caller.resolve(pidFile);
        Path temp = abs.resolveSibling("." + abs.getFileName() + ".tmp");
        Files.writeString(temp, Long.toString(pid));
        Files.move(temp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
