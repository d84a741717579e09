/* For the gdb tests: two writes to stdout, of 4 and 7 bytes, and a getpid between them. */
#include <unistd.h>

int main(void)
{
	write(1, "one\n", 4);
	getpid();
	write(1, "second\n", 7);
	return 0;
}
