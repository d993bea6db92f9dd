package dev.capsa.cli;

import org.junit.jupiter.api.Tag;

/** {@link IsolationCases} with capsa's ns backend. */
@Tag("integration")
class IsolationCapsaIT extends IsolationCases {
    @Override
    boolean capsa() {
        return true;
    }
}
