/* rdtsc and rdtscp via inline asm: every value is nondeterministic. */
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>

static inline uint64_t read_tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t read_tscp(uint32_t *aux)
{
	uint32_t lo, hi, c;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(c));
	*aux = c;
	return ((uint64_t)hi << 32) | lo;
}

static int have_rdtscp(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000001, &a, &b, &c, &d))
		return 0;
	return (d >> 27) & 1;
}

int main(void)
{
	uint64_t v[8];
	for (int i = 0; i < 8; i++)
		v[i] = read_tsc();
	for (int i = 0; i < 8; i++)
		printf("rdtsc[%d]=%llu\n", i, (unsigned long long)v[i]);
	int monotonic = 1;
	for (int i = 1; i < 8; i++)
		if (v[i] < v[i - 1])
			monotonic = 0;
	printf("rdtsc monotonic=%d\n", monotonic);

	/* Some work between two reads, so the delta is not trivially small. */
	volatile unsigned long sink = 0;
	uint64_t t0 = read_tsc();
	for (unsigned long i = 0; i < 100000; i++)
		sink += i;
	uint64_t t1 = read_tsc();
	printf("loop delta=%llu sink=%lu\n", (unsigned long long)(t1 - t0), (unsigned long)sink);

	if (have_rdtscp()) {
		for (int i = 0; i < 4; i++) {
			uint32_t aux;
			uint64_t t = read_tscp(&aux);
			printf("rdtscp[%d]=%llu aux=%u\n", i, (unsigned long long)t, aux);
		}
	} else {
		printf("rdtscp unsupported\n");
	}
	/* Mixed, in a loop: the replay has to hand them out in order. */
	for (int i = 0; i < 4; i++) {
		uint32_t aux = 0;
		uint64_t a = read_tsc();
		uint64_t b = have_rdtscp() ? read_tscp(&aux) : read_tsc();
		printf("pair[%d]=%llu,%llu aux=%u\n", i, (unsigned long long)a, (unsigned long long)b, aux);
	}
	return 0;
}
