package dev.capsa.os;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * While a foreground {@code run} waits, the signals a user sends to capsa (Ctrl-C, kill) go to the
 * container's process instead of ending the JVM and orphaning the container, as runc's signal
 * proxy does. The container's
 * process is the one to decide; its exit ends the wait. This is {@link LocalLauncher}'s way, for
 * a JVM that is its own caller.
 *
 * <p>Uses {@code sun.misc.Signal} (module jdk.unsupported) through reflection: it is the only JDK
 * way to catch a signal, and reflection keeps the build free of proprietary-API warnings.
 */
final class SignalProxy implements Launcher.Forwarding {
    private static final Logger LOG = LoggerFactory.getLogger(SignalProxy.class);
    private static final List<String> FORWARDED = List.of("INT", "TERM", "HUP", "USR1", "USR2");

    private final List<Object[]> previous = new ArrayList<>(); // {Signal, old handler}

    SignalProxy(IntConsumer target) {
        try {
            Class<?> signalClass = Class.forName("sun.misc.Signal");
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            Method handle = signalClass.getMethod("handle", signalClass, handlerClass);
            Method number = signalClass.getMethod("getNumber");
            InvocationHandler forward = (proxy, method, args) -> {
                if (method.getName().equals("handle")) {
                    target.accept((Integer) number.invoke(args[0]));
                    return null;
                }
                return switch (method.getName()) {
                    case "hashCode" -> System.identityHashCode(proxy);
                    case "equals" -> proxy == args[0];
                    default -> "signal forwarder";
                };
            };
            Object handler = Proxy.newProxyInstance(handlerClass.getClassLoader(), new Class<?>[] {handlerClass},
                    forward);
            for (String name : FORWARDED) {
                Object signal = signalClass.getConstructor(String.class).newInstance(name);
                try {
                    previous.add(new Object[] {signal, handle.invoke(null, signal, handler)});
                } catch (ReflectiveOperationException e) {
                    LOG.debug("cannot forward SIG{}: {}", name, e.getCause());
                }
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.debug("signals are not forwarded to the container: {}", e.toString());
        }
    }

    @Override
    public void close() {
        try {
            Class<?> signalClass = Class.forName("sun.misc.Signal");
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            Method handle = signalClass.getMethod("handle", signalClass, handlerClass);
            for (Object[] p : previous) {
                handle.invoke(null, p[0], p[1]);
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.debug("cannot restore signal handlers: {}", e.toString());
        }
    }
}
