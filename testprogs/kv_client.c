/* A client of kv_server: kv_client PORT LINE... sends each LINE and prints each reply.
 * Exits 1 if the server cannot be reached or a reply does not come. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PORT LINE...\n", argv[0]);
		return 2;
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		perror("kv_client: connect");
		return 1;
	}
	FILE *in = fdopen(fd, "r");
	char reply[8192];
	for (int i = 2; i < argc; i++) {
		dprintf(fd, "%s\n", argv[i]);
		if (!fgets(reply, sizeof reply, in)) {
			fprintf(stderr, "kv_client: no reply to %s\n", argv[i]);
			return 1;
		}
		fputs(reply, stdout);
	}
	return 0;
}
