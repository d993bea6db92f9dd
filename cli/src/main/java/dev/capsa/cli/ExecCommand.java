package dev.capsa.cli;

import dev.capsa.os.Caller;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.capsa.error.CapsaException;
import dev.capsa.error.InvalidSpecException;
import dev.capsa.spec.Json;
import dev.capsa.spec.ProcessSpec;
import dev.capsa.spec.SpecLoader;
import dev.capsa.spi.ExecOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "exec", description = "Run a new process in a running container; exits with its exit code.")
final class ExecCommand implements Callable<Integer> {
    @ParentCommand
    CapsaCommand root;

    @Option(names = {"-p", "--process"}, paramLabel = "FILE", description = "a process.json (config.md process)")
    Path process;

    @Option(names = {"-t", "--tty"}, description = "allocate a pseudo-terminal")
    boolean tty;

    @Option(names = {"-d", "--detach"}, description = "do not wait for the process")
    boolean detach;

    @Option(names = "--pid-file", paramLabel = "FILE", description = "write the process's pid to FILE")
    Path pidFile;

    @Option(names = "--console-socket", paramLabel = "PATH", description = "unix socket that receives the pty master")
    Path consoleSocket;

    @Option(names = {"-e", "--env"}, paramLabel = "KEY=VALUE", description = "set an environment variable")
    List<String> env = new ArrayList<>();

    @Option(names = "--cwd", paramLabel = "DIR", description = "working directory inside the container")
    String cwd;

    @Option(names = {"-u", "--user"}, paramLabel = "UID[:GID]", description = "run as this uid and gid")
    String user;

    @Option(names = {"-g", "--additional-gids"}, paramLabel = "GID", description = "an additional group")
    List<Long> additionalGids = new ArrayList<>();

    @Option(names = {"-c", "--cap"}, paramLabel = "CAP", description = "add a capability")
    List<String> caps = new ArrayList<>();

    @Option(names = "--no-new-privs", description = "set no_new_privs for the process")
    boolean noNewPrivs;

    @Option(names = "--preserve-fds", paramLabel = "N", description = "pass N descriptors after stdio")
    int preserveFds;

    @Option(names = "--apparmor", paramLabel = "PROFILE", description = "AppArmor profile for the process")
    String apparmor;

    @Option(names = "--process-label", paramLabel = "LABEL", description = "SELinux label for the process")
    String processLabel;

    @Parameters(index = "0", paramLabel = "ID", description = "the container id")
    String id;

    @Parameters(index = "1..*", paramLabel = "COMMAND", description = "the command and its arguments")
    List<String> command = new ArrayList<>();

    @Override
    public Integer call() {
        if (!command.isEmpty() && command.get(0).equals("--")) {
            command = command.subList(1, command.size()); // `exec ID -- CMD` also works
        }
        ProcessSpec spec = process != null ? fromFile() : fromFlags();
        ExecOptions options = new ExecOptions(spec, detach,
                consoleSocket == null ? null : Caller.resolve(consoleSocket),
                pidFile == null ? null : Caller.resolve(pidFile), preserveFds);
        return root.engine().exec(id, options);
    }

    private ProcessSpec fromFile() {
        if (!command.isEmpty()) {
            throw new CapsaException("exec: give the command in --process or as arguments, not both");
        }
        return SpecLoader.loadProcess(Caller.resolve(process));
    }

    /** runc: the container's own process settings, with the command and the flags on top. */
    private ProcessSpec fromFlags() {
        if (command.isEmpty()) {
            throw new CapsaException("exec: no command given (arguments after the id, or --process)");
        }
        ProcessSpec base = root.engine().spec(id).process();
        ObjectNode p = base == null ? Json.mapper().createObjectNode() : Json.mapper().valueToTree(base);
        ArrayNode args = p.putArray("args");
        command.forEach(args::add);
        p.put("terminal", tty);
        if (!p.has("cwd")) {
            p.put("cwd", "/");
        }
        ArrayNode envs = p.has("env") ? (ArrayNode) p.get("env") : p.putArray("env");
        for (String e : env) {
            if (!e.contains("=")) {
                throw new CapsaException("exec: --env " + e + ": expected KEY=VALUE");
            }
            String key = e.substring(0, e.indexOf('=') + 1);
            for (int i = envs.size() - 1; i >= 0; i--) {
                if (envs.get(i).asText().startsWith(key)) {
                    envs.remove(i);
                }
            }
            envs.add(e);
        }
        if (cwd != null) {
            p.put("cwd", cwd);
        }
        if (user != null) {
            // runc changes uid and gid only: umask and additional groups stay the container's
            ObjectNode u = p.has("user") ? (ObjectNode) p.get("user") : p.putObject("user");
            String[] parts = user.split(":", 2);
            try {
                u.put("uid", Long.parseLong(parts[0]));
                u.put("gid", parts.length > 1 ? Long.parseLong(parts[1]) : 0);
            } catch (NumberFormatException e) {
                throw new CapsaException("exec: --user " + user + ": expected UID[:GID] as numbers");
            }
        }
        if (!additionalGids.isEmpty()) {
            ObjectNode u = p.has("user") ? (ObjectNode) p.get("user") : p.putObject("user");
            ArrayNode gids = u.putArray("additionalGids");
            additionalGids.forEach(gids::add);
        }
        if (!caps.isEmpty()) {
            ObjectNode c = p.has("capabilities") ? (ObjectNode) p.get("capabilities") : p.putObject("capabilities");
            for (String set : List.of("bounding", "effective", "permitted", "ambient")) {
                ArrayNode list = c.has(set) ? (ArrayNode) c.get(set) : c.putArray(set);
                caps.forEach(list::add);
            }
        }
        if (noNewPrivs) {
            p.put("noNewPrivileges", true);
        }
        if (apparmor != null) {
            p.put("apparmorProfile", apparmor);
        }
        if (processLabel != null) {
            p.put("selinuxLabel", processLabel);
        }
        try {
            return Json.mapper().treeToValue(p, ProcessSpec.class);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new InvalidSpecException("", "exec: cannot build the process: " + e.getOriginalMessage(), e);
        }
    }
}
