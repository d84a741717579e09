/* A shared library (built as lib_counter_read.so) whose one function reads the
 * time-stamp counter. */
#include <stdint.h>

uint64_t counter_read(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
