// A child signalled and reaped through a pidfd: pidfd_open, pidfd_send_signal, poll on
// the pidfd until the child has ended, waitid(P_PIDFD).
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(3);
    }
    int pidfd = syscall(SYS_pidfd_open, child, 0);
    printf("pidfd_open: %s\n", pidfd >= 0 ? "a descriptor" : "failed");
    struct pollfd before = {pidfd, POLLIN, 0};
    printf("poll while the child lives: %d\n", poll(&before, 1, 0));
    long sent = syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
    printf("pidfd_send_signal: %ld\n", sent);
    struct pollfd after = {pidfd, POLLIN, 0};
    int ready = poll(&after, 1, 5000);
    printf("poll once it ended: %d, revents %#x\n", ready, after.revents);
    siginfo_t info = {0};
    int waited = waitid(P_PIDFD, pidfd, &info, WEXITED);
    printf("waitid(P_PIDFD): %d, killed %d by signal %d, pid matches %d\n", waited,
           info.si_code == CLD_KILLED, info.si_status, info.si_pid == child);
    printf("pid %d\n", getpid());
    return 0;
}
