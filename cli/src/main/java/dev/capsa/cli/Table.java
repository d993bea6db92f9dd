package dev.capsa.cli;

import java.util.List;

/** Columns padded like Go's tabwriter as runc configures it (min width 12, padding 3). */
final class Table {
    private static final int MIN_WIDTH = 12;
    private static final int PADDING = 3;

    private Table() {
    }

    static String render(List<String[]> rows) {
        int columns = rows.get(0).length;
        int[] width = new int[columns];
        for (String[] row : rows) {
            for (int c = 0; c < columns - 1; c++) {
                width[c] = Math.max(width[c], Math.max(MIN_WIDTH, row[c].length() + PADDING));
            }
        }
        StringBuilder b = new StringBuilder();
        for (String[] row : rows) {
            for (int c = 0; c < columns; c++) {
                b.append(row[c]);
                if (c < columns - 1) {
                    b.append(" ".repeat(width[c] - row[c].length()));
                }
            }
            b.append('\n');
        }
        return b.toString();
    }
}
