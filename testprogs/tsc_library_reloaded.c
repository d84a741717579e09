/* Loads the library LIB (lib_counter_read.so), reads the time-stamp counter through it and
 * unloads it, three times: it comes back at the same address each time. Prints where the
 * function was and the value it read (nondeterministic). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	for (int i = 0; i < 3; i++) {
		void *lib = dlopen(argv[1], RTLD_NOW);
		if (lib == NULL)
			return 1;
		uint64_t (*read_counter)(void) = (uint64_t (*)(void))dlsym(lib, "counter_read");
		if (read_counter == NULL)
			return 1;
		printf("at %p read %llu\n", (void *)read_counter, (unsigned long long)read_counter());
		dlclose(lib);
	}
	return 0;
}
