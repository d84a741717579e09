// A stack overflow's SIGSEGV handled on an alternate stack; the handler asks sigaltstack
// whether it runs on it (SS_ONSTACK), and so does main once back on its own stack.
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sigjmp_buf back;
static char alt[65536];
static volatile int on_alt_in_handler = -1;

static void on_segv(int sig) {
    (void)sig;
    stack_t now;
    sigaltstack(NULL, &now);
    on_alt_in_handler = (now.ss_flags & SS_ONSTACK) != 0;
    siglongjmp(back, 1);
}

static volatile int never = -1;

static int recurse(int depth) {
    volatile char pad[1024];
    if (depth == never)
        return 0;
    pad[0] = (char)depth;
    return recurse(depth + 1) + pad[0];
}

int main(void) {
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    if (!sigsetjmp(back, 1))
        recurse(0);
    stack_t after;
    sigaltstack(NULL, &after);
    printf("handler on the alternate stack: %d\n", on_alt_in_handler);
    printf("main on it afterwards: %d\n", (after.ss_flags & SS_ONSTACK) != 0);
    printf("pid %d\n", getpid());
    return 0;
}
