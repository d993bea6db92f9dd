package dev.capsa.engine;

/**
 * @param defaultBackend the backend used when neither --backend nor the annotation names one
 * @param backendFlag    the global --backend flag, or null
 */
public record EngineSettings(String defaultBackend, String backendFlag) {
    public static final String DEFAULT_BACKEND = "ns";
}
