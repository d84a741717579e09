/* A seccomp filter that traps getppid (SECCOMP_RET_TRAP: SIGSYS, handled) and kills on
 * uname, installed with prctl(PR_SET_SECCOMP); a child forked afterwards inherits it. Prints
 * what the handler saw (signal, syscall number), the seccomp mode in both processes, how the
 * child ended, and the pid. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int trapped_nr = -1, trapped_sig;

static void on_sigsys(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    trapped_sig = sig;
    trapped_nr = si->si_syscall;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("pid %d\n", getpid());
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    sigaction(SIGSYS, &sa, NULL);
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_uname, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
    printf("PR_SET_SECCOMP: %d (%s), mode %d\n", r, r ? strerror(errno) : "ok",
           prctl(PR_GET_SECCOMP));
    long ppid = syscall(SYS_getppid);
    printf("getppid: %ld, handler saw signal %d for syscall %d\n", ppid, trapped_sig, trapped_nr);
    pid_t child = fork();
    if (child == 0) {
        printf("child's seccomp mode: %d\n", prctl(PR_GET_SECCOMP));
        struct utsname u;
        uname(&u);
        printf("child survived uname\n");
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child ended: %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return 0;
}
