/* capget with header version 0 and no data: the kernel writes the version it prefers into
 * the header. Prints it, then the effective set read with that version, and the pid. */
#include <linux/capability.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    struct __user_cap_header_struct hdr = {0, 0};
    long r = syscall(SYS_capget, &hdr, NULL);
    printf("pid %d probe: %ld, preferred version %#x\n", getpid(), r, hdr.version);
    struct __user_cap_data_struct data[2] = {{0}};
    r = syscall(SYS_capget, &hdr, data);
    printf("capget: %ld, effective %#x %#x\n", r, data[0].effective, data[1].effective);
    return hdr.version == 0;
}
