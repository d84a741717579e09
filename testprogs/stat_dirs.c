/* stat/lstat/statx of a few paths, getcwd, uname and readlink of /proc/self links. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

static void show_stat(const char *how, const char *path, int r, const struct stat *st)
{
	if (r != 0) {
		printf("%s %s: error %s\n", how, path, strerror(errno));
		return;
	}
	printf("%s %s: dev=%llu ino=%llu mode=%o nlink=%llu uid=%d gid=%d size=%lld blocks=%lld\n", how, path,
	       (unsigned long long)st->st_dev, (unsigned long long)st->st_ino, (unsigned)st->st_mode,
	       (unsigned long long)st->st_nlink, (int)st->st_uid, (int)st->st_gid, (long long)st->st_size,
	       (long long)st->st_blocks);
	printf("  atime=%lld.%09ld mtime=%lld.%09ld ctime=%lld.%09ld\n", (long long)st->st_atim.tv_sec,
	       st->st_atim.tv_nsec, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
	       st->st_ctim.tv_nsec);
}

int main(void)
{
	const char *paths[] = {"/", "/tmp", "/proc/self", "/etc/passwd", "/dev/null", ".", "/nonexistent/path"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct stat st;
		int r = stat(paths[i], &st);
		show_stat("stat", paths[i], r, &st);
		r = lstat(paths[i], &st);
		show_stat("lstat", paths[i], r, &st);

		struct statx sx;
		r = statx(AT_FDCWD, paths[i], AT_SYMLINK_NOFOLLOW, STATX_ALL, &sx);
		if (r != 0) {
			printf("statx %s: error %s\n", paths[i], strerror(errno));
		} else {
			printf("statx %s: mask=%#x ino=%llu size=%llu btime=%lld.%09u mnt=%d:%d\n", paths[i], sx.stx_mask,
			       (unsigned long long)sx.stx_ino, (unsigned long long)sx.stx_size,
			       (long long)sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec, sx.stx_dev_major, sx.stx_dev_minor);
		}
	}

	char buf[PATH_MAX];
	printf("getcwd: %s\n", getcwd(buf, sizeof buf) ? buf : "(error)");

	struct utsname u;
	uname(&u);
	printf("uname: sysname=%s nodename=%s release=%s version=%s machine=%s\n", u.sysname, u.nodename, u.release,
	       u.version, u.machine);

	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("readlink /proc/self/exe: n=%zd %s\n", n, buf);
	n = readlink("/proc/self", buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("readlink /proc/self: n=%zd %s\n", n, buf);
	return 0;
}
