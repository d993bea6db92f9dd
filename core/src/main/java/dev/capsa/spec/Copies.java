package dev.capsa.spec;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.NullNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Unmodifiable copies for the record constructors. Unlike {@code List.copyOf} they keep null
 * (absent stays absent, and a JSON null inside an array is reported by the validator, not by a
 * NullPointerException in a constructor) and keep insertion order.
 */
final class Copies {
    private Copies() {
    }

    static <T> List<T> list(List<T> list) {
        return list == null ? null : Collections.unmodifiableList(new ArrayList<>(list));
    }

    static <V> Map<String, V> map(Map<String, V> map) {
        return map == null ? null : Collections.unmodifiableMap(new LinkedHashMap<>(map));
    }

    /** Unknown fields: never null, so that {@code extra().get(name)} needs no guard. */
    static Map<String, JsonNode> extra(Map<String, JsonNode> extra) {
        if (extra == null || extra.isEmpty()) {
            return Map.of();
        }
        Map<String, JsonNode> copy = new LinkedHashMap<>();
        extra.forEach((name, value) -> copy.put(name, value == null ? NullNode.getInstance() : value.deepCopy()));
        return Collections.unmodifiableMap(copy);
    }
}
