/* Replays fuzz inputs through LLVMFuzzerTestOneInput without libFuzzer
 * (systemd's fuzz-main.c, SQLite's fuzzcheck habit): the normal test run
 * feeds every committed corpus file to its target, so a crash found once
 * stays fixed.
 *
 * Usage: fuzz-NAME-replay FILE|DIR...
 * Every regular file named, and every regular file directly inside a
 * directory named, is read whole and passed to the target. Fails (exit 1) on
 * an unreadable or missing argument, an empty directory, a file over
 * CU_FUZZ_INPUT_MAX, or when nothing at all was replayed: a replay of
 * nothing must not pass. A bug in the target shows as a crash. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* Reads the whole file into an exactly sized buffer, so that ASan sees any
 * read past the end of the input. */
static int
replay_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	int r = -1;
	uint8_t *data = NULL;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "%s: not a regular file\n", path);
		goto out;
	}
	if ((uint64_t)st.st_size > CU_FUZZ_INPUT_MAX) {
		fprintf(stderr, "%s: %lld bytes, more than the %u a fuzz input may have\n", path,
		        (long long)st.st_size, CU_FUZZ_INPUT_MAX);
		goto out;
	}
	size_t len = (size_t)st.st_size;
	data = malloc(len ? len : 1);
	if (data == NULL) {
		fprintf(stderr, "%s: out of memory\n", path);
		goto out;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, data + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			goto out;
		}
		if (n == 0) {
			fprintf(stderr, "%s: changed size while being read\n", path);
			goto out;
		}
		got += (size_t)n;
	}
	printf("%s\n", path);
	fflush(stdout); /* the last name printed is the input that crashed */
	(void)LLVMFuzzerTestOneInput(data, len);
	r = 0;
out:
	free(data);
	close(fd);
	return r;
}

/* Replays one directory entry: 1 when it was an input, 0 when it is not
 * one (hidden, sub-directory, link), -1 on failure. */
static int
replay_entry(const char *dir, const char *name)
{
	char path[4096];
	if (name[0] == '.')
		return 0;
	int len = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (len < 0 || (size_t)len >= sizeof(path)) {
		fprintf(stderr, "%s/%s: path too long\n", dir, name);
		return -1;
	}
	struct stat st;
	if (lstat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	return replay_file(path) < 0 ? -1 : 1;
}

/* Replays the regular files directly inside dir, in name order. Returns the
 * number replayed, or -1. A directory without inputs is an error. */
static long
replay_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	long count = 0;
	bool failed = false;
	for (int i = 0; i < n; i++) {
		if (!failed) {
			int r = replay_entry(dir, names[i]->d_name);
			if (r < 0)
				failed = true;
			else
				count += r;
		}
		free(names[i]);
	}
	free(names);
	if (failed)
		return -1;
	if (count == 0) {
		fprintf(stderr, "%s: no inputs to replay\n", dir);
		return -1;
	}
	return count;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 1;
	}
	long total = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			long n = replay_dir(argv[i]);
			if (n < 0)
				return 1;
			total += n;
		} else {
			if (replay_file(argv[i]) < 0)
				return 1;
			total++;
		}
	}
	printf("replayed %ld inputs\n", total);
	return total > 0 ? 0 : 1;
}
