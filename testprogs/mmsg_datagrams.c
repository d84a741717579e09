/* Two datagrams sent with one sendmmsg over a UNIX socketpair, received with one
 * recvmmsg: prints the counts, each message's length and text, and the pid. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) {
        perror("socketpair");
        return 1;
    }
    char *texts[2] = {"first datagram", "second, longer datagram"};
    struct iovec out_iov[2];
    struct mmsghdr out[2];
    memset(out, 0, sizeof(out));
    for (int i = 0; i < 2; i++) {
        out_iov[i].iov_base = texts[i];
        out_iov[i].iov_len = strlen(texts[i]);
        out[i].msg_hdr.msg_iov = &out_iov[i];
        out[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = sendmmsg(sv[0], out, 2, 0);
    printf("pid %d sendmmsg: %d, lengths %u %u\n", getpid(), sent, out[0].msg_len, out[1].msg_len);

    char bufs[2][64];
    struct iovec in_iov[2];
    struct mmsghdr in[2];
    memset(in, 0, sizeof(in));
    memset(bufs, 0, sizeof(bufs));
    for (int i = 0; i < 2; i++) {
        in_iov[i].iov_base = bufs[i];
        in_iov[i].iov_len = sizeof(bufs[i]) - 1;
        in[i].msg_hdr.msg_iov = &in_iov[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(sv[1], in, 2, 0, NULL);
    printf("recvmmsg: %d\n", got);
    for (int i = 0; i < got; i++)
        printf("message %d (%u bytes): %s\n", i, in[i].msg_len, bufs[i]);
    return 0;
}
