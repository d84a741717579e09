// A file mapped MAP_SHARED and written with pwrite and write: the mapping shows the new
// bytes; a pwrite past the end makes the mapping's second page readable; an mremap that
// grows a shared mapping of this executable shows the file's next page.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    (void)argc;
    char path[] = "/tmp/ftrun-shared-file-writes-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    ftruncate(fd, 100);
    char *map = mmap(NULL, 2 * 4096, PROT_READ, MAP_SHARED, fd, 0);
    pwrite(fd, "pwrite at 10", 12, 10);
    printf("mapping after pwrite: %.12s\n", map + 10);
    lseek(fd, 40, SEEK_SET);
    write(fd, "write at 40", 11);
    printf("mapping after write: %.11s\n", map + 40);
    char page[4096];
    memset(page, 'g', sizeof page);
    pwrite(fd, page, sizeof page, 4096);
    printf("second page after the file grew: %c%c\n", map[4096], map[8191]);

    int self = open(argv[0], O_RDONLY);
    char file[2 * 4096];
    read(self, file, sizeof file);
    char *exe = mmap(NULL, 4096, PROT_READ, MAP_SHARED, self, 0);
    exe = mremap(exe, 4096, 2 * 4096, MREMAP_MAYMOVE);
    printf("grown mapping shows the file: %s; pid %d\n",
           memcmp(exe, file, sizeof file) == 0 ? "yes" : "no", getpid());
    return 0;
}
