/* Reads the time-stamp counter from its own code, the clock through glibc (the vDSO
 * natively), and, with "jit", from code it makes at run time while a second thread waits
 * to run that code too. Prints every value (all nondeterministic). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t read_tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* rdtsc; shl $32,%rdx; or %rdx,%rax; ret */
static const unsigned char jit_code[] = {0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0xc3};
static uint64_t (*jitted)(void);
static int go[2];

static void *waiter(void *arg)
{
	char c;
	(void)arg;
	if (read(go[0], &c, 1) != 1)
		return NULL;
	printf("thread jit %llu\n", (unsigned long long)jitted());
	return NULL;
}

int main(int argc, char **argv)
{
	int rounds = 200;
	struct timespec ts;
	struct timeval tv;
	uint64_t sum = 0;
	printf("tsc %llu\n", (unsigned long long)read_tsc());
	for (int i = 0; i < rounds; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		gettimeofday(&tv, NULL);
		sum += (uint64_t)ts.tv_nsec + (uint64_t)tv.tv_usec + (uint64_t)time(NULL);
	}
	printf("clock sum %llu\n", (unsigned long long)sum);
	printf("tsc %llu\n", (unsigned long long)read_tsc());
	if (argc < 2 || strcmp(argv[1], "jit") != 0)
		return 0;
	pthread_t t;
	if (pipe(go) != 0 || pthread_create(&t, NULL, waiter, NULL) != 0)
		return 1;
	usleep(20000); /* the thread waits in its read */
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return 1;
	memcpy(page, jit_code, sizeof jit_code);
	if (mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0)
		return 1;
	jitted = (uint64_t (*)(void))page;
	printf("main jit %llu\n", (unsigned long long)jitted());
	fflush(stdout);
	if (write(go[1], "x", 1) != 1)
		return 1;
	pthread_join(t, NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	printf("after %lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
	return 0;
}
