package dev.capsa.plugin;

import com.google.inject.Injector;
import com.google.inject.Provider;
import org.pf4j.ExtensionFactory;
import org.pf4j.PluginRuntimeException;

/** pf4j builds extensions through Guice, so a backend can {@code @Inject} what core offers (Os, settings ...). */
final class GuiceExtensionFactory implements ExtensionFactory {
    private final Provider<Injector> injector;

    GuiceExtensionFactory(Provider<Injector> injector) {
        this.injector = injector;
    }

    @Override
    public <T> T create(Class<T> extensionClass) {
        try {
            return injector.get().getInstance(extensionClass);
        } catch (RuntimeException e) {
            throw new PluginRuntimeException(e, "cannot create extension {}: {}", extensionClass.getName(),
                    e.getMessage());
        }
    }
}
