/* Code in writable memory: a small function (mov $NR, %eax; syscall; ret) is written into
 * a read-write-execute anonymous mapping and called for getpid, then rewritten in place
 * for gettid and called again; both results are printed. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static long call(unsigned char *code, int nr)
{
	unsigned char insns[] = {0xb8, nr, 0, 0, 0, 0x0f, 0x05, 0xc3};
	memcpy(code, insns, sizeof insns);
	__builtin___clear_cache((char *)code, (char *)code + sizeof insns);
	return ((long (*)(void))code)();
}

int main(void)
{
	unsigned char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED)
		return 1;
	long pid = call(code, SYS_getpid);
	long tid = call(code, SYS_gettid);
	printf("getpid %ld, gettid %ld\n", pid, tid);
	return 0;
}
