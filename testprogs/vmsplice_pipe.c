// vmsplice both ways: user pages into a pipe (read back with read), and a pipe's bytes
// into user memory (vmsplice on the read end), and a line into stdout when it is a pipe.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void) {
    int p[2];
    if (pipe(p) != 0)
        return 1;
    char out[] = "pages handed to the pipe";
    struct iovec into[2] = {{out, 6}, {out + 6, sizeof out - 7}};
    ssize_t given = vmsplice(p[1], into, 2, 0);
    char got[64] = {0};
    ssize_t n = read(p[0], got, sizeof got - 1);
    printf("vmsplice into the pipe: %zd, read %zd: %s\n", given, n, got);

    write(p[1], "bytes the pipe holds", 20);
    char first[8] = {0}, rest[32] = {0};
    struct iovec from[2] = {{first, 5}, {rest, sizeof rest - 1}};
    ssize_t taken = vmsplice(p[0], from, 2, 0);
    printf("vmsplice out of the pipe: %zd: '%s' '%s'\n", taken, first, rest);
    fflush(stdout);
    // The pipe holds the pages themselves, not a copy: they must not change until read.
    static const char line[] = "this line went to stdout by vmsplice\n";
    struct iovec to_stdout = {(void *)line, sizeof line - 1};
    struct stat st;
    if (fstat(1, &st) == 0 && S_ISFIFO(st.st_mode))
        vmsplice(1, &to_stdout, 1, 0);
    else
        write(1, line, sizeof line - 1);
    printf("pid %d\n", getpid());
    return 0;
}
