/* Private: what the media module's files share (still.c, tamper.c). */
#ifndef CU_MEDIA_INT_H
#define CU_MEDIA_INT_H

#include <libavutil/frame.h>
#include <libswscale/swscale.h>

/* Sets sws, made to convert src's pictures, to read them as BT.601 in src's
 * range and to write full range. swscale knows the range of the yuvj
 * formats only; a decoder may flag full range on a yuv format. */
void cu_media_sws_full_range(struct SwsContext *sws, const AVFrame *src);

#endif
