// SIGCHLD blocked but inside the wait (as make does): pselect, ppoll and epoll_pwait with
// a mask that lets it in, each ended by a child's exit, three times over.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t children_ended;

static void on_chld(int sig) {
    (void)sig;
    children_ended++;
}

static void start_child(void) {
    if (fork() == 0) {
        usleep(1000);
        _exit(0);
    }
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t chld, open_mask, now;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &open_mask);
    int quiet[2];
    pipe(quiet);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, quiet[0], &ev);
    for (int round = 0; round < 3; round++) {
        start_child();
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(quiet[0], &readable);
        int r = pselect(quiet[0] + 1, &readable, NULL, NULL, NULL, &open_mask);
        printf("pselect: %d %s, ended %d\n", r, r < 0 ? strerror(errno) : "", (int)children_ended);
        wait(NULL);
        start_child();
        struct pollfd pfd = {quiet[0], POLLIN, 0};
        r = ppoll(&pfd, 1, NULL, &open_mask);
        printf("ppoll: %d %s, ended %d\n", r, r < 0 ? strerror(errno) : "", (int)children_ended);
        wait(NULL);
        start_child();
        struct epoll_event out;
        r = epoll_pwait(ep, &out, 1, -1, &open_mask);
        printf("epoll_pwait: %d %s, ended %d\n", r, r < 0 ? strerror(errno) : "",
               (int)children_ended);
        wait(NULL);
        sigprocmask(SIG_BLOCK, NULL, &now);
        printf("SIGCHLD blocked again: %d\n", sigismember(&now, SIGCHLD));
    }
    printf("pid %d\n", getpid());
    return 0;
}
