/* custody — frames, and reading them from media files.
 *
 * A frame is one access unit as a camera sent it (H.264/H.265 in Annex B byte
 * stream form with start codes, one JPEG picture, one AAC frame with its ADTS
 * header), with its time and key-frame flag. The store records frames; the
 * importer and (later) the RTSP depacketisers produce them. */
#ifndef CUSTODY_MEDIA_H
#define CUSTODY_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A camera's name, the same in the store, the metadata of exported media
 * and every tool. */
#define CU_CAMERA_NAME_MAX 64          /* bytes; [A-Za-z0-9._-], first alnum */

/* Valid camera name? Returns 0 or CU_ERR_INVAL with a detail. */
int cu_camera_name_check(const char *name);

enum cu_codec {
	CU_CODEC_H264 = 1,
	CU_CODEC_H265 = 2,
	CU_CODEC_MJPEG = 3,
	CU_CODEC_AAC = 4,
};

enum cu_track {
	CU_TRACK_VIDEO = 0,
	CU_TRACK_AUDIO = 1,
};

#define CU_FRAME_MAX (16u * 1024 * 1024)   /* largest frame accepted anywhere */
#define CU_FRAME_DURATION_MAX 10000000u    /* 10 s: longer is not a frame */

typedef struct cu_frame {
	int64_t ts_us;        /* presentation time, µs since the epoch, UTC */
	uint32_t dur_us;      /* duration, µs (0 when unknown) */
	uint8_t codec;        /* enum cu_codec */
	uint8_t track;        /* enum cu_track */
	bool key;             /* key frame (IDR/IRAP for video, always true for audio) */
	const uint8_t *data;  /* the payload, borrowed */
	size_t len;           /* 1..CU_FRAME_MAX */
} cu_frame;

/* Short lower-case name ("h264") or "unknown". */
const char *cu_codec_name(int codec);

/* ---- importing a media file ---- */

typedef struct cu_media_src cu_media_src;

/* Opens a media file (MP4, MKV, MOV, raw H.264/H.265 Annex B, ...) through
 * libavformat. Takes the first video stream (H.264, H.265 or MJPEG) and the
 * first AAC audio stream if present. A file with no usable stream is
 * CU_ERR_MEDIA, with a detail naming the file and what was found. */
int cu_media_open(const char *path, cu_media_src **ret);

/* Reads the next frame in decode order. The frame's ts_us is relative to the
 * start of the file (the first frame is 0; never negative); the caller adds
 * the wall-clock start. Raw streams without timestamps get them from the
 * frame rate (25 fps if unknown). frame->data stays valid until the next call.
 * Returns 1 with a frame, 0 at the end, or a negative cu_err. */
int cu_media_next(cu_media_src *src, cu_frame *ret_frame);

/* Closes the file. NULL is fine. */
void cu_media_close(cu_media_src *src);

#endif
