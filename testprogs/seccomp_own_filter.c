/* The program installs its own seccomp filter (after PR_SET_NO_NEW_PRIVS): getppid fails with
 * EPERM and uname with ENOTSUP, every other call is allowed. Prints the results before and
 * after, a pipe made after the filter, and the pid. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#define DENY(nr, err)                                         \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),          \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err))

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("pid %d, getppid before: %d\n", getpid(), getppid() > 0);
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        DENY(SYS_getppid, EPERM),
        DENY(SYS_uname, ENOTSUP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    printf("no_new_privs: %d\n", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
    printf("seccomp: %ld (%s)\n", r, r ? strerror(errno) : "ok");
    printf("seccomp mode now: %d\n", prctl(PR_GET_SECCOMP));
    errno = 0;
    r = syscall(SYS_getppid);
    printf("getppid after: %ld (%s)\n", r, strerror(errno));
    struct utsname u;
    errno = 0;
    r = uname(&u);
    printf("uname after: %ld (%s)\n", r, strerror(errno));
    int fds[2];
    r = pipe(fds);
    printf("pipe after: %ld, write %zd\n", r, r == 0 ? write(fds[1], "x", 1) : -1);
    return 0;
}
