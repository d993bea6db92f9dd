package dev.capsa.hooks;

import dev.capsa.spec.Spec;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The {@code when} of a hooks.d 1.0.0 file, matched as containers/common's
 * {@code pkg/hooks/1.0.0/when.go} matches it: every condition that is set must hold, in this
 * order (always, hasBindMounts, annotations, commands). Its quirks are kept on purpose, so that a
 * file behaves the same under podman and Capsa:
 * <ul>
 *   <li>{@code "always": false} and {@code "hasBindMounts": false} never match;</li>
 *   <li>a condition-less {@code when} never matches;</li>
 *   <li>{@code commands} is skipped when the spec has no process;</li>
 *   <li>patterns are unanchored searches, as Go's {@code regexp.MatchString}.</li>
 * </ul>
 *
 * @param annotations key pattern to value pattern; some annotation must match both of each pair
 * @param commands    patterns for {@code process.args[0]}; one must match
 */
record When(Boolean always, Map<Pattern, Pattern> annotations, List<Pattern> commands, Boolean hasBindMounts) {
    When {
        annotations = annotations == null ? Map.of() : annotations;
        commands = commands == null ? List.of() : List.copyOf(commands);
    }

    boolean isEmpty() {
        return always == null && hasBindMounts == null && annotations.isEmpty() && commands.isEmpty();
    }

    /**
     * @param hasBindMounts whether the container has bind mounts
     * @throws IllegalArgumentException when commands are set and the process has no args (when.go's error)
     */
    boolean matches(Spec spec, Map<String, String> specAnnotations, boolean hasBindMounts) {
        int matches = 0;
        if (always != null) {
            if (!always) {
                return false;
            }
            matches++;
        }
        if (this.hasBindMounts != null) {
            if (!(this.hasBindMounts && hasBindMounts)) {
                return false;
            }
            matches++;
        }
        Map<String, String> present = specAnnotations == null ? Map.of() : specAnnotations;
        for (Map.Entry<Pattern, Pattern> pair : annotations.entrySet()) {
            boolean match = present.entrySet().stream().anyMatch(a ->
                    pair.getKey().matcher(a.getKey()).find() && pair.getValue().matcher(a.getValue()).find());
            if (!match) {
                return false;
            }
            matches++;
        }
        if (spec.process() != null && !commands.isEmpty()) {
            List<String> args = spec.process().args();
            if (args == null || args.isEmpty()) {
                throw new IllegalArgumentException("process.args must have at least one entry");
            }
            String command = args.get(0);
            return commands.stream().anyMatch(p -> p.matcher(command).find());
        }
        return matches > 0;
    }
}
