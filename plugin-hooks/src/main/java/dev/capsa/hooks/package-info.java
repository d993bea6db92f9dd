/** Hook plugins (the hooks.d loader, the event journal): none shipped yet in this build. */
package dev.capsa.hooks;
