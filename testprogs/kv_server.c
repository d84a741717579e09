/* A single-threaded TCP key-value server (poll, text protocol, in-memory, SO_REUSEADDR).
 * Usage: kv_server PORT. Lines: "SET key value" -> "OK", "GET key" -> "VALUE value" or
 * "NONE", "COUNT" -> "COUNT n", "PING" -> "PONG". Prints "listening on PORT" when ready. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define BUCKETS 4096

struct entry {
	char *key, *value;
	struct entry *next;
};

static struct entry *table[BUCKETS];
static long count;

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % BUCKETS;
}

static struct entry *find(const char *key)
{
	for (struct entry *e = table[hash(key)]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void set(const char *key, const char *value)
{
	struct entry *e = find(key);
	if (e) {
		free(e->value);
		e->value = strdup(value);
		return;
	}
	e = malloc(sizeof *e);
	e->key = strdup(key);
	e->value = strdup(value);
	unsigned h = hash(key);
	e->next = table[h];
	table[h] = e;
	count++;
}

struct client {
	int fd;
	char buf[4096];
	size_t len;
};

static void reply(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;
	while (off < n) {
		ssize_t w = write(fd, s + off, n - off);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void handle_line(int fd, char *line)
{
	char out[4200];
	char *cmd = strtok(line, " ");
	if (!cmd)
		return;
	if (strcmp(cmd, "SET") == 0) {
		char *k = strtok(NULL, " "), *v = strtok(NULL, "");
		if (!k || !v) {
			reply(fd, "ERR usage: SET key value\n");
			return;
		}
		set(k, v);
		reply(fd, "OK\n");
	} else if (strcmp(cmd, "GET") == 0) {
		char *k = strtok(NULL, " ");
		struct entry *e = k ? find(k) : NULL;
		if (e) {
			snprintf(out, sizeof out, "VALUE %s\n", e->value);
			reply(fd, out);
		} else {
			reply(fd, "NONE\n");
		}
	} else if (strcmp(cmd, "COUNT") == 0) {
		snprintf(out, sizeof out, "COUNT %ld\n", count);
		reply(fd, out);
	} else if (strcmp(cmd, "PING") == 0) {
		reply(fd, "PONG\n");
	} else {
		reply(fd, "ERR unknown command\n");
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(ls, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(ls, 64) != 0) {
		perror("kv_server: bind/listen");
		return 1;
	}
	printf("listening on %s\n", argv[1]);
	fflush(stdout);

	struct client clients[MAX_CLIENTS];
	int nclients = 0;
	for (;;) {
		struct pollfd pfds[MAX_CLIENTS + 1];
		pfds[0].fd = ls;
		pfds[0].events = POLLIN;
		for (int i = 0; i < nclients; i++) {
			pfds[i + 1].fd = clients[i].fd;
			pfds[i + 1].events = POLLIN;
		}
		if (poll(pfds, (nfds_t)nclients + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("kv_server: poll");
			return 1;
		}
		for (int i = nclients - 1; i >= 0; i--) {
			if (!(pfds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			struct client *c = &clients[i];
			ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
			if (n <= 0) {
				close(c->fd);
				clients[i] = clients[--nclients];
				continue;
			}
			c->len += (size_t)n;
			c->buf[c->len] = 0;
			char *start = c->buf, *nl;
			while ((nl = strchr(start, '\n'))) {
				*nl = 0;
				handle_line(c->fd, start);
				start = nl + 1;
			}
			c->len = strlen(start);
			memmove(c->buf, start, c->len);
		}
		if ((pfds[0].revents & POLLIN) && nclients < MAX_CLIENTS) {
			int fd = accept(ls, NULL, NULL);
			if (fd >= 0)
				clients[nclients++] = (struct client){.fd = fd, .len = 0};
		}
	}
}
