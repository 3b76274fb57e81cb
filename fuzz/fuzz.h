/* Shared by the fuzz targets and the corpus replay (fuzz/replay.c).
 *
 * Each fuzz-NAME.c defines LLVMFuzzerTestOneInput for one parser of outside
 * input. Linked with -fsanitize=fuzzer it is a libFuzzer target; linked with
 * replay.c it replays fuzz/corpus/NAME/ in the normal test run. A target
 * reports a bug by crashing (abort), which both drivers turn into a failure. */
#ifndef CU_FUZZ_H
#define CU_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The largest input the replay accepts; libFuzzer's -max_len should stay below. */
#define CU_FUZZ_INPUT_MAX (4u * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One temporary file per process, for parsers that take a path. */
static char cu_fuzz_tmp_path[] = "/tmp/custody-fuzz-XXXXXX";
static int cu_fuzz_tmp_fd = -1;

static inline void
cu_fuzz_tmp_remove(void)
{
	if (cu_fuzz_tmp_fd >= 0) {
		unlink(cu_fuzz_tmp_path);
		close(cu_fuzz_tmp_fd);
		cu_fuzz_tmp_fd = -1;
	}
}

/* Replaces the temporary file's contents with data and returns its path.
 * A harness that cannot set up its file cannot test anything: it aborts
 * rather than report a pass. */
static inline const char *
cu_fuzz_tmp_write(const uint8_t *data, size_t size)
{
	if (cu_fuzz_tmp_fd < 0) {
		cu_fuzz_tmp_fd = mkostemp(cu_fuzz_tmp_path, O_CLOEXEC);
		if (cu_fuzz_tmp_fd < 0) {
			perror("fuzz: mkostemp /tmp");
			abort();
		}
		atexit(cu_fuzz_tmp_remove);
	}
	if (ftruncate(cu_fuzz_tmp_fd, 0) < 0) {
		perror("fuzz: ftruncate");
		abort();
	}
	size_t done = 0;
	while (done < size) {
		ssize_t n = pwrite(cu_fuzz_tmp_fd, data + done, size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror("fuzz: pwrite");
			abort();
		}
		done += (size_t)n;
	}
	return cu_fuzz_tmp_path;
}

/* An exact-size, NUL-terminated copy of the input (to free), so that ASan
 * sees any read past its end; aborts when memory runs out. */
static inline char *
cu_fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
