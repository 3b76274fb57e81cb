/* Fuzz target: unpacking a player folder's tar (cu_pkg_folder_untar in
 * lib/package/folder.c), what `custody export --server --include-player`
 * does with the bytes a server sent.
 *
 * Input: the tar.
 *
 * Properties: it accepts or refuses with a detail, and writes only the
 * four names it knows into the directory it was given; when it accepts,
 * those four files are there, custody with mode 0755 and the others 0644. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "custody/error.h"
#include "custody/package.h"
#include "fuzz.h"

static const char *const names[] = {CU_PKG_FOLDER_PACKAGE, CU_PKG_FOLDER_PROGRAM,
                                    CU_PKG_FOLDER_RECIPE, CU_PKG_FOLDER_README};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static char dir_path[] = "/tmp/custody-fuzz-folder-XXXXXX";
static int dfd = -1;

static void
dir_remove(void)
{
	if (dfd < 0)
		return;
	for (size_t i = 0; i < NNAMES; i++)
		unlinkat(dfd, names[i], 0);
	close(dfd);
	rmdir(dir_path);
	dfd = -1;
}

/* Aborts when the directory holds anything but the four names. */
static size_t
count_known(void)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL)
		abort();
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		bool known = false;
		for (size_t i = 0; i < NNAMES; i++)
			known |= strcmp(e->d_name, names[i]) == 0;
		if (!known)
			abort();
		n++;
	}
	closedir(d);
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dfd < 0) {
		if (mkdtemp(dir_path) == NULL ||
		    (dfd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			perror("fuzz: mkdtemp /tmp");
			abort();
		}
		atexit(dir_remove);
	}
	const char *path = cu_fuzz_tmp_write(data, size);
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		abort();
	char inner[CU_TAR_NAME_MAX + 1];
	int r = cu_pkg_folder_untar(in, dfd, inner, NULL);
	close(in);
	size_t n = count_known();
	if (r == 0) {
		struct stat st;
		if (n != NNAMES || inner[0] == '\0' || strchr(inner, '/') != NULL)
			abort();
		for (size_t i = 0; i < NNAMES; i++)
			if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
			    (st.st_mode & 07777) != (i == 1 ? 0755u : 0644u))
				abort();
	} else if (cu_error_detail()[0] == '\0') {
		abort();
	}
	for (size_t i = 0; i < NNAMES; i++)
		unlinkat(dfd, names[i], 0);
	cu_error_clear();
	return 0;
}
