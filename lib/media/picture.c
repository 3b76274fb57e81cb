/* custody — the picture conversions that still.c and tamper.c share. */
#include <stdbool.h>

#include <libavutil/pixfmt.h>

#include "media/media_int.h"

static bool
full_range(const AVFrame *f)
{
	return f->color_range == AVCOL_RANGE_JPEG || f->format == AV_PIX_FMT_YUVJ420P ||
	       f->format == AV_PIX_FMT_YUVJ422P || f->format == AV_PIX_FMT_YUVJ444P ||
	       f->format == AV_PIX_FMT_YUVJ440P || f->format == AV_PIX_FMT_YUVJ411P;
}

void
cu_media_sws_full_range(struct SwsContext *sws, const AVFrame *src)
{
	const int *coef = sws_getCoefficients(SWS_CS_ITU601);
	(void)sws_setColorspaceDetails(sws, coef, full_range(src) ? 1 : 0, coef, 1, 0, 1 << 16,
	    1 << 16);
}
