/*
 * capsa-init's entry: one static binary with two modes (design.md: capsa-init is both the ns
 * backend's init and the vm guest's /init and agent).
 *
 * - The vm backend's guest: the kernel runs it as /init, pid 1, with argv[0] "/init". It is the
 *   guest agent (plugin-vm/src/main/c/capsa-agent.c).
 * - Anywhere else: the ns backend's init (capsa-init.c), run by capsa as
 *   `capsa-init --control SOCKET`.
 *
 * Both plugins build this same binary from the same three files; each ships it in its jar.
 */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

int ns_main(int argc, char **argv);
int agent_main(void);

int main(int argc, char **argv) {
    if (getpid() == 1 && argc > 0 && strcmp(argv[0], "/init") == 0) {
        return agent_main();
    }
    return ns_main(argc, argv);
}
