/* Verification for the browser client (docs/api.md): GET cameras/{c}/verify
 * over a bounded range, and the signed reasons of the gaps GET ranges lists.
 * Both use the verifier playback uses (cu_store_verify). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "custody/crypto.h"
#include "custody/time.h"
#include "custody/x509.h"
#include "daemon.h"

static const char *
kind_name(int kind)
{
	static const char *const names[] = {"?", "start", "stop", "gap", "restart", "retention"};
	return kind >= 1 && kind <= 5 ? names[kind] : "?";
}

/* ---- gaps in GET ranges ---- */

/* Does a signed record [rf, rt] cover the gap [gf, gt]? The gap's ends come
 * from the catalogue's segment times, the record's from frame times: they
 * may differ by up to the ranges' merge tolerance. */
static bool
covers(const struct cu_verify_gap *g, int64_t gf, int64_t gt)
{
	return g->from_us <= gf + CD_GAP_TOLERANCE_US && g->to_us >= gt - CD_GAP_TOLERANCE_US;
}

json_t *
cd_gap_json(struct call *c, const char *cam, int64_t from, int64_t to, bool look)
{
	json_t *o = json_pack("{s:o, s:o, s:n, s:b}", "from", cd_json_time(from), "to",
	                      cd_json_time(to), "reason", "signed", false);
	if (!look)
		return o;
	/* a gap or restart record is written where recording resumes: into the
	 * segment still open when the outage ended (the one before the gap), or
	 * the one that opens after it; nothing lies between them */
	struct cu_verify_opts vo = {.camera = cam, .from_us = from - 1, .to_us = to + 1,
	                            .threads = 1};
	struct cu_verify_report *rep = NULL;
	if (cu_store_verify(c->a->store, &vo, &rep) < 0) {
		cd_log(CD_WARN, "ranges of %s: the gap at %lld: %s", cam, (long long)to,
		       cu_error_detail());
		return o;
	}
	for (size_t i = 0; !rep->tampered && i < rep->ncameras; i++)
		for (size_t k = 0; k < rep->cameras[i].ngaps; k++) {
			const struct cu_verify_gap *g = &rep->cameras[i].gaps[k];
			if (g->kind == CU_REC_EVENT_KIND || !covers(g, from, to))
				continue;
			json_object_set_new(o, "reason", json_string(g->reason));
			json_object_set_new(o, "kind", json_string(kind_name(g->kind)));
			json_object_set_new(o, "signed", json_true());
			goto out;
		}
out:
	cu_verify_report_free(rep);
	return o;
}

/* ---- GET cameras/{c}/verify?from=&to= ---- */

/* The signed event records (tamper.*, onvif.*) of the range as periods:
 * raise paired with clear; to null while not cleared, from null for a clear
 * whose raise lies before the range. */
static json_t *
events_json(const char *cam, const struct cu_verify_camera *vc)
{
	json_t *a = json_array();
	struct cu_event_period *p = NULL;
	size_t n = 0;
	if (vc == NULL || a == NULL)
		return a;
	if (cu_event_periods(vc->gaps, vc->ngaps, &p, &n) < 0)
		cd_log(CD_WARN, "verify of %s: event records: %s", cam, cu_error_detail());
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:b}",
		                                   "camera", cam, "type", p[i].type, "source",
		                                   p[i].source, "severity",
		                                   cu_event_severity_name(p[i].severity), "from",
		                                   cd_json_time(p[i].from_us), "to",
		                                   cd_json_time(p[i].to_us), "detail", p[i].detail,
		                                   "signed", true));
	free(p);
	return a;
}

static json_t *
report_json(const char *cam, int64_t from, int64_t to, const struct cu_verify_report *rep)
{
	char sfp[96], cfp[96];
	cu_x509_fingerprint_hex(rep->signer_fp, sfp, sizeof(sfp));
	cu_x509_fingerprint_hex(rep->ca_fp, cfp, sizeof(cfp));
	const struct cu_verify_camera *vc = rep->ncameras > 0 ? &rep->cameras[0] : NULL;
	json_t *gaps = json_array();
	for (size_t k = 0; vc != NULL && k < vc->ngaps; k++)
		if (vc->gaps[k].kind != CU_REC_EVENT_KIND)
			json_array_append_new(gaps, json_pack("{s:s, s:o, s:o, s:s, s:b}", "kind",
		                                      kind_name(vc->gaps[k].kind), "from",
		                                      cd_json_time(vc->gaps[k].from_us), "to",
		                                      cd_json_time(vc->gaps[k].to_us), "reason",
		                                      vc->gaps[k].reason, "signed", true));
	json_t *o = json_pack("{s:s, s:o, s:o, s:b, s:I, s:s, s:s, s:o}", "camera", cam, "from",
	                      cd_json_time(from), "to", cd_json_time(to), "intact", !rep->tampered,
	                      "segments", (json_int_t)(vc ? vc->segments : 0), "signer_sha256", sfp,
	                      "site_ca_sha256", cfp, "gaps", gaps);
	json_object_set_new(o, "events", events_json(cam, vc));
	if (rep->tampered && vc != NULL) {
		json_object_set_new(o, "failed_segment_start", cd_json_time(vc->fail_time_us));
		json_object_set_new(o, "reason", json_string(vc->fail_reason));
	}
	return o;
}

void
cd_api_verify(struct call *c)
{
	const char *cam = c->segs[1];
	if (cd_call_need_camera(c, cam, CU_FN_PLAYBACK) < 0)
		return;
	int64_t from = 0, to = 0;
	int hf, ht;
	if ((hf = cd_call_query_time(c, "from", &from)) < 0 ||
	    (ht = cd_call_query_time(c, "to", &to)) < 0)
		return;
	if (hf == 0 || ht == 0 || to <= from || to - from > CD_VERIFY_MAX_US) {
		cd_reply_error(c->r, 400, "invalid", "\"from\" and \"to\" are required, \"to\" after "
		               "\"from\", at most %lld s apart",
		               (long long)(CD_VERIFY_MAX_US / 1000000));
		return;
	}
	/* a verification reads every byte of the range: it takes a stream slot,
	 * so that at most CD_HTTP_STREAMS_MAX such reads run at once */
	int r = cd_stream_reserve(c->r);
	struct cu_verify_report *rep = NULL;
	struct cu_verify_opts vo = {.camera = cam, .from_us = from, .to_us = to};
	if (r < 0 || (r = cu_store_verify(c->a->store, &vo, &rep)) < 0) {
		cd_call_reply_cu(c, r, "verifying the recording");
		return;
	}
	json_t *o = report_json(cam, from, to, rep);
	if (rep->tampered && rep->ncameras > 0) {
		const struct cu_verify_camera *vc = &rep->cameras[0];
		cd_log(CD_WARN, "verify of %s: tampered: %s", cam, vc->fail_reason);
		cd_call_audit(c, "verify.tampered",
		              json_pack("{s:s, s:o, s:o, s:o, s:s}", "camera", cam, "from",
		                        cd_json_time(from), "to", cd_json_time(to),
		                        "failed_segment_start", cd_json_time(vc->fail_time_us),
		                        "reason", vc->fail_reason));
	}
	cu_verify_report_free(rep);
	cd_call_reply_json(c, 200, o);
}
