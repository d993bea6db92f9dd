package dev.capsa.engine;

import dev.capsa.error.CapsaException;
import dev.capsa.os.FakeOs;
import dev.capsa.spi.Availability;
import dev.capsa.spi.ContainerContext;
import dev.capsa.spi.CreateOptions;
import dev.capsa.spi.Features;
import dev.capsa.spi.HookPhase;
import dev.capsa.spi.RuntimeBackend;
import dev.capsa.state.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * A backend over {@link FakeOs}: create spawns a fake process, start marks it started (kept in the
 * container's data, as a real backend keeps its fifo on disk), status is derived from the fake
 * process table. It records the operations it was asked for, in order.
 */
final class FakeBackend implements RuntimeBackend {
    final String name;
    final FakeOs os;
    final List<String> calls;
    String failCreate;
    boolean reportsCreateRuntime = true;
    Availability availability = Availability.yes();

    FakeBackend(String name, FakeOs os, List<String> calls) {
        this.name = name;
        this.os = os;
        this.calls = calls;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Availability probe() {
        return availability;
    }

    @Override
    public Features features() {
        return new Features("1.0.0", "1.2.1", List.of(), List.of(), null, null, null);
    }

    @Override
    public void create(ContainerContext ctx, CreateOptions options) {
        calls.add(name + ":create " + ctx.id());
        long pid = os.spawn();
        ctx.recordPid(pid);
        if ("before-hooks".equals(failCreate)) {
            throw new CapsaException("fake create failed");
        }
        if (reportsCreateRuntime) {
            ctx.runHooks(HookPhase.CREATE_RUNTIME);
        }
        if ("after-hooks".equals(failCreate)) {
            throw new CapsaException("fake create failed late");
        }
    }

    @Override
    public void start(ContainerContext ctx) {
        calls.add(name + ":start " + ctx.id());
        ctx.putData("started", "true");
    }

    @Override
    public Status status(ContainerContext ctx) {
        OptionalLong pid = ctx.pid();
        if (pid.isEmpty() || !os.alive(pid.getAsLong())) {
            return Status.STOPPED;
        }
        return ctx.data("started").isPresent() ? Status.RUNNING : Status.CREATED;
    }

    @Override
    public void kill(ContainerContext ctx, int signal, boolean all) {
        calls.add(name + ":kill " + ctx.id() + " " + signal + (all ? " all" : ""));
        if (all && !os.alive(ctx.pid().orElseThrow())) {
            return;
        }
        os.kill(ctx.pid().orElseThrow(), signal);
    }

    @Override
    public void delete(ContainerContext ctx, boolean force) {
        calls.add(name + ":delete " + ctx.id() + (force ? " force" : ""));
        ctx.pid().ifPresent(p -> {
            if (os.alive(p)) {
                os.kill(p, 9);
            }
        });
    }

    @Override
    public int waitExit(ContainerContext ctx) {
        calls.add(name + ":wait " + ctx.id());
        os.exit(ctx.pid().orElseThrow());
        return 7;
    }
}
