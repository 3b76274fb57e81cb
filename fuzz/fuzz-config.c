/* Fuzz target: custodyd's configuration parser (daemon/config.c), which
 * reads a file an operator (or an attacker with write access to it) wrote.
 *
 * Property: it accepts or refuses, and a refusal always names a line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cd_config c; /* large: not on the stack */
	char err[512] = "";
	if (cd_config_parse((const char *)data, size, "/nonexistent", &c, err, sizeof(err)) < 0) {
		if (strncmp(err, "line ", 5) != 0) {
			fprintf(stderr, "fuzz-config: refusal without a line: \"%s\"\n", err);
			abort();
		}
		return 0;
	}
	if (c.store[0] == '\0' || c.password_file[0] == '\0' || c.ncameras > CD_CAMERAS_MAX)
		abort();
	for (size_t i = 0; i < c.ncameras; i++)
		if (c.cameras[i].url[0] == '\0')
			abort();
	return 0;
}
