/* One thread computes in registers only, in a loop of short instructions that writes no
 * memory, while another thread wakes every 2 ms, reads the clock into its stack (a call
 * that may finish while the first thread computes) and counts its wake-ups. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static volatile int done;
static void *ticker(void *a)
{
	unsigned long *wakes = a;
	struct timespec t;
	while (!done) {
		usleep(2000);
		clock_gettime(CLOCK_MONOTONIC, &t);
		++*wakes;
	}
	return NULL;
}
static unsigned long compute(unsigned long rounds)
{
	unsigned long x = 1, i = 0;
	/* imul, add, add, cmp, jb: no instruction of 5 bytes in the loop. */
	__asm__ volatile("1:\n\t"
			 "imul %[k], %[x]\n\t"
			 "add %[i], %[x]\n\t"
			 "add $1, %[i]\n\t"
			 "cmp %[n], %[i]\n\t"
			 "jb 1b\n\t"
			 : [x] "+r"(x), [i] "+r"(i)
			 : [k] "r"(6364136223846793005UL), [n] "r"(rounds)
			 : "cc");
	return x;
}
int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 0) : 200000000UL;
	unsigned long wakes = 0;
	pthread_t t;
	pthread_create(&t, NULL, ticker, &wakes);
	unsigned long x = compute(rounds);
	done = 1;
	pthread_join(t, NULL);
	printf("value %lx, the ticker woke %s\n", x, wakes > 0 ? "meanwhile" : "never");
	return 0;
}
