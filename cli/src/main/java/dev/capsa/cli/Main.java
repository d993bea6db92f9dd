package dev.capsa.cli;

import java.io.PrintStream;

/** The {@code capsa} command. The only place that calls System.exit. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("__serve")) {
            System.exit(dev.capsa.cli.server.Server.serve(args)); // bin/capsa, the client, starts it
        }
        int code = run(args, System.out, System.err);
        System.out.flush();
        System.exit(code);
    }

    /** Runs one command line; returns the exit code: 0, 1 for a failure, 2 for a usage error. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        return CapsaCommand.execute(args, out, err);
    }
}
