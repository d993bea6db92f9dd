/**
 * Hook plugins: {@link dev.capsa.hooks.EventJournal} ("journal") keeps a per-container journal of
 * lifecycle events, and {@link dev.capsa.hooks.HooksDirLoader} ("hooks.d") runs the hooks defined
 * in podman's and CRI-O's hooks.d directories. docs/hooks.md describes both.
 */
package dev.capsa.hooks;
