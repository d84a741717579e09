// A SysV message queue between a parent and its child: the child waits in msgrcv for
// messages of types 1 and 2 sent in the other order, reads the queue's state, and sees
// EIDRM once the parent removes the queue.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

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
    usleep(50 * 1000);
    struct msqid_ds ds;
    msgctl(id, IPC_STAT, &ds);
    printf("queue holds %lu messages, last sender %d (me: %d)\n", (unsigned long)ds.msg_qnum,
           ds.msg_lspid, getpid());
    fflush(stdout);
    msgctl(id, IPC_RMID, NULL);
    waitpid(child, NULL, 0);
    return 0;
}
