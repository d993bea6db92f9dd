package dev.capsa.cli.log;

import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.AbstractLogger;
import org.slf4j.helpers.MessageFormatter;

/** An slf4j logger that writes through the {@link LogSink} configured by the global flags. */
final class CapsaLogger extends AbstractLogger {
    private static final long serialVersionUID = 1L;

    CapsaLogger(String name) {
        this.name = name;
    }

    @Override
    protected String getFullyQualifiedCallerName() {
        return null;
    }

    @Override
    protected void handleNormalizedLoggingCall(Level level, Marker marker, String pattern, Object[] args,
                                               Throwable throwable) {
        String message = MessageFormatter.basicArrayFormat(pattern, args);
        if (throwable != null && LogSink.get().enabled(Level.DEBUG)) {
            message = message + ": " + throwable;
        }
        LogSink.get().write(level, message);
    }

    private boolean on(Level level) {
        return LogSink.get().enabled(level);
    }

    @Override
    public boolean isTraceEnabled() {
        return on(Level.TRACE);
    }

    @Override
    public boolean isTraceEnabled(Marker marker) {
        return on(Level.TRACE);
    }

    @Override
    public boolean isDebugEnabled() {
        return on(Level.DEBUG);
    }

    @Override
    public boolean isDebugEnabled(Marker marker) {
        return on(Level.DEBUG);
    }

    @Override
    public boolean isInfoEnabled() {
        return on(Level.INFO);
    }

    @Override
    public boolean isInfoEnabled(Marker marker) {
        return on(Level.INFO);
    }

    @Override
    public boolean isWarnEnabled() {
        return on(Level.WARN);
    }

    @Override
    public boolean isWarnEnabled(Marker marker) {
        return on(Level.WARN);
    }

    @Override
    public boolean isErrorEnabled() {
        return on(Level.ERROR);
    }

    @Override
    public boolean isErrorEnabled(Marker marker) {
        return on(Level.ERROR);
    }
}
