/* A POSIX message queue used by one process: two messages sent with different priorities come
 * back highest first with their priority, the attributes count them, a timed receive on the
 * empty queue times out and a non-blocking one says EAGAIN. Prints the pid too. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    char name[64];
    snprintf(name, sizeof name, "/ftrun-mq-%d", getpid());
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1) {
        printf("mq_open: %s\n", strerror(errno));
        return 1;
    }
    printf("pid %d opened a queue\n", getpid());
    mq_send(q, "low", 4, 1);
    mq_send(q, "high", 5, 7);
    struct mq_attr now;
    mq_getattr(q, &now);
    printf("attributes: maxmsg %ld msgsize %ld curmsgs %ld\n", now.mq_maxmsg, now.mq_msgsize,
           now.mq_curmsgs);
    for (int i = 0; i < 2; i++) {
        char buf[64];
        unsigned prio = 0;
        ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
        printf("received %zd bytes \"%s\" priority %u\n", n, n > 0 ? buf : "", prio);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 20 * 1000 * 1000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    char buf[64];
    ssize_t n = mq_timedreceive(q, buf, sizeof buf, NULL, &deadline);
    printf("timed receive on the empty queue: %zd (%s)\n", n, strerror(errno));
    struct mq_attr nonblocking = {.mq_flags = O_NONBLOCK}, old;
    mq_setattr(q, &nonblocking, &old);
    printf("old flags %ld\n", old.mq_flags);
    n = mq_receive(q, buf, sizeof buf, NULL);
    printf("non-blocking receive: %zd (%s)\n", n, strerror(errno));
    printf("unlink: %d\n", mq_unlink(name));
    return 0;
}
