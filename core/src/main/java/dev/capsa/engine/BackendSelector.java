package dev.capsa.engine;

import dev.capsa.error.CapsaException;

/** design.md: the --backend flag, then the dev.capsa.backend annotation, then the configured default. */
public final class BackendSelector {
    public static final String ANNOTATION = "dev.capsa.backend";

    private BackendSelector() {
    }

    public static String choose(String flag, String annotation, String configuredDefault) {
        boolean hasFlag = flag != null && !flag.isBlank();
        boolean hasAnnotation = annotation != null && !annotation.isBlank();
        if (hasFlag && hasAnnotation && !flag.equals(annotation)) {
            // crun: a global handler plus a conflicting annotation is an error, never a silent pick
            throw new CapsaException("--backend=" + flag + " and annotation " + ANNOTATION + "=" + annotation
                    + " disagree: drop one or make them equal");
        }
        if (hasFlag) {
            return flag;
        }
        if (hasAnnotation) {
            return annotation;
        }
        return configuredDefault;
    }
}
