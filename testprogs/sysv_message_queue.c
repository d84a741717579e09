// A SysV message queue between a parent and its child: the child waits in msgrcv for
// messages of types 1 and 2 sent in the other order, then waits for a third while the
// parent reads the queue's state and removes it: the child sees EIDRM.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

/* Whether `pid` sleeps (state S in /proc/PID/stat). A tracer's stop at the entry or exit of
 * a call shows its number in /proc/PID/syscall too, but in state t: the child may not be
 * waiting on the queue yet, or may be leaving the previous msgrcv. */
static int sleeping(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int asleep = 0;
    if (fgets(line, sizeof line, f)) {
        char *end = strrchr(line, ')');
        asleep = end && end[1] == ' ' && end[2] == 'S';
    }
    fclose(f);
    return asleep;
}

/* Waits until `pid` sleeps in msgrcv (its syscall number first in /proc/PID/syscall). */
static void wait_until_in_msgrcv(pid_t pid) {
    char path[64], line[64];
    snprintf(path, sizeof path, "/proc/%d/syscall", pid);
    for (int i = 0; i < 10000; i++) {
        FILE *f = fopen(path, "r");
        int in_msgrcv = f && fgets(line, sizeof line, f) && atoi(line) == 70;
        if (f)
            fclose(f);
        if (in_msgrcv && sleeping(pid))
            return;
        usleep(1000);
    }
}

struct message {
    long type;
    char text[32];
};

int main(void) {
    int id = msgget(IPC_PRIVATE, 0600);
    if (id < 0) {
        perror("msgget");
        return 1;
    }
    pid_t child = fork();
    if (child == 0) {
        struct message m;
        for (long type = 1; type <= 2; type++) {
            ssize_t n = msgrcv(id, &m, sizeof m.text, type, 0);
            printf("child got type %ld (%zd bytes): %s\n", m.type, n, m.text);
            fflush(stdout);
        }
        ssize_t n = msgrcv(id, &m, sizeof m.text, 3, 0);
        printf("child's last msgrcv: %zd (%s)\n", n, errno == EIDRM ? "EIDRM" : "other");
        fflush(stdout);
        _exit(0);
    }
    struct message two = {2, "second type"}, one = {1, "first type"};
    msgsnd(id, &two, strlen(two.text) + 1, 0);
    usleep(20 * 1000);
    msgsnd(id, &one, strlen(one.text) + 1, 0);
    struct msqid_ds ds;
    for (int i = 0; i < 10000; i++) {
        msgctl(id, IPC_STAT, &ds);
        if (ds.msg_qnum == 0)
            break;
        usleep(1000);
    }
    wait_until_in_msgrcv(child);
    msgctl(id, IPC_STAT, &ds);
    printf("queue holds %lu messages, last sender %d (me: %d)\n", (unsigned long)ds.msg_qnum,
           ds.msg_lspid, getpid());
    fflush(stdout);
    msgctl(id, IPC_RMID, NULL);
    waitpid(child, NULL, 0);
    return 0;
}
