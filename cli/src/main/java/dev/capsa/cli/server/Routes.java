package dev.capsa.cli.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * System.in, System.out and System.err of the server route to the streams of the request that
 * the current thread (or the request thread that started it) serves, else to the server's own.
 */
final class Routes {
    private static final InheritableThreadLocal<InputStream> IN = new InheritableThreadLocal<>();
    private static final InheritableThreadLocal<PrintStream> OUT = new InheritableThreadLocal<>();
    private static final InheritableThreadLocal<PrintStream> ERR = new InheritableThreadLocal<>();

    private Routes() {
    }

    static void install() {
        InputStream in = System.in;
        PrintStream out = System.out;
        PrintStream err = System.err;
        System.setIn(new InputStream() {
            private InputStream target() {
                InputStream s = IN.get();
                return s == null ? in : s;
            }

            @Override
            public int read() throws IOException {
                return target().read();
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                return target().read(b, off, len);
            }
        });
        System.setOut(new PrintStream(routed(OUT, out), true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(routed(ERR, err), true, StandardCharsets.UTF_8));
    }

    private static OutputStream routed(InheritableThreadLocal<PrintStream> route, PrintStream fallback) {
        return new OutputStream() {
            private PrintStream target() {
                PrintStream s = route.get();
                return s == null ? fallback : s;
            }

            @Override
            public void write(int b) {
                target().write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                target().write(b, off, len);
            }

            @Override
            public void flush() {
                target().flush();
            }
        };
    }

    static void bind(InputStream in, PrintStream out, PrintStream err) {
        IN.set(in);
        OUT.set(out);
        ERR.set(err);
    }

    static void unbind() {
        IN.remove();
        OUT.remove();
        ERR.remove();
    }
}
