/* custody info --store DIR [--json] */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "cli.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/x509.h"

static const char help[] =
	"usage: custody info --store DIR [--json]\n"
	"Cameras, their time ranges and sizes, the encryption mode and the signer, from the\n"
	"catalogue. Needs no password and changes nothing; custody verify checks the content.\n";

int
cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{"store", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *store = NULL;
	bool json = false;
	int c;
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'j': json = true; break;
		case 'h': fputs(help, stdout); return 0;
		default:
			return cli_bad_option("info", argv);
		}
	}
	int bad = cli_options_end("info", argc, argv, store);
	if (bad >= 0)
		return bad;
	cu_store *s;
	int r = cu_store_open(store, NULL, 0, &s);
	if (r < 0)
		return cli_fail("info", r, "cannot open the store");
	struct cu_store_info *in;
	r = cu_store_info(s, &in);
	cu_store_close(s);
	if (r < 0)
		return cli_fail("info", r, "cannot read the catalogue");
	char fp[96], cafp[96], sz[32], a[CU_TIME_ISO_MAX], b[CU_TIME_ISO_MAX];
	cu_x509_fingerprint_hex(in->signer_fp, fp, sizeof(fp));
	cu_x509_fingerprint_hex(in->ca_fp, cafp, sizeof(cafp));
	if (json) {
		json_t *cams = json_array();
		for (size_t i = 0; i < in->ncameras; i++) {
			const struct cu_info_camera *ci = &in->cameras[i];
			json_array_append_new(cams, json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:b}",
			                      "name", ci->name, "id", ci->id, "from", cli_json_time(ci->first_us),
			                      "to", cli_json_time(ci->last_us), "segments",
			                      (json_int_t)ci->segments, "frames", (json_int_t)ci->frames,
			                      "bytes", (json_int_t)ci->bytes, "recording", ci->recording));
		}
		json_t *root = json_pack("{s:s, s:s, s:I, s:o, s:I, s:{s:s, s:s, s:s, s:s}, s:o}",
		                         "store_id", in->store_id, "encryption",
		                         cu_encryption_name(in->encryption), "segment_seconds",
		                         (json_int_t)(in->segment_us / 1000000), "created",
		                         cli_json_time(in->created_us), "bytes", (json_int_t)in->total_bytes,
		                         "signer", "subject", in->signer_subject, "fingerprint", fp,
		                         "ca_subject", in->ca_subject, "ca_fingerprint", cafp,
		                         "cameras", cams);
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(root);
	} else {
		cli_bytes(in->total_bytes, sz, sizeof(sz));
		cu_time_text(in->created_us, a);
		printf("store       %s (id %s, created %s)\n", store, in->store_id, a);
		printf("encryption  %s\nsegments    %lld s\nsize        %s\n",
		       cu_encryption_name(in->encryption), (long long)(in->segment_us / 1000000), sz);
		printf("signer      %s\n            SHA-256 %s\n", in->signer_subject, fp);
		printf("site CA     %s\n            SHA-256 %s\n", in->ca_subject, cafp);
		printf("cameras     %zu\n", in->ncameras);
		for (size_t i = 0; i < in->ncameras; i++) {
			const struct cu_info_camera *ci = &in->cameras[i];
			a[0] = b[0] = '-';
			a[1] = b[1] = '\0';
			if (ci->first_us >= 0) {
				cu_time_text(ci->first_us, a);
				cu_time_text(ci->last_us, b);
			}
			cli_bytes(ci->bytes, sz, sizeof(sz));
			printf("  %-16s %s to %s, %llu segments, %llu frames, %s%s\n", ci->name, a, b,
			       (unsigned long long)ci->segments, (unsigned long long)ci->frames, sz,
			       ci->recording ? " [recording]" : "");
		}
	}
	cu_store_info_free(in);
	return 0;
}
