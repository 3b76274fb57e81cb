/* custody — media output: frames into MP4 files and single pictures into JPEG.
 *
 * The MP4 writer turns frames (as the store serves them: Annex B H.264/H.265
 * or JPEG video, ADTS AAC audio, µs timestamps since the epoch) into either a
 * fragmented MP4 that is streamed as it is written (HTTP playback, live), or
 * a plain MP4 (moov at the end) that plays in any player (the "mp4" export
 * format). The still writer decodes a key frame and the frames after it and
 * encodes the picture shown at a given moment as a JPEG with EXIF metadata.
 * Formats, timestamp mapping and the EXIF bytes: docs/media-output.md. */
#ifndef CUSTODY_MUX_H
#define CUSTODY_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/media.h"

/* ---- MP4 ---- */

/* Frames held before the file header can be written (the first key frame,
 * the frames after it that show the B-frame depth, and audio waiting for the
 * first key frame). Past either limit the header is written with what is
 * known. */
#define CU_MP4_PENDING_MAX 512
#define CU_MP4_PENDING_BYTES_MAX (64u * 1024 * 1024)
/* Video frames after the first key frame looked at before the header is
 * written (unless the next key frame comes first). */
#define CU_MP4_LOOKAHEAD 32
/* Audio frames kept while waiting for the first video key frame (the oldest
 * are dropped). */
#define CU_MP4_AUDIO_WAIT_MAX 64
/* A fragment is cut before it grows past this many bytes of media, even in
 * the middle of a GOP: what one fragment holds in memory. */
#define CU_MP4_FRAGMENT_BYTES_MAX (32u * 1024 * 1024)
/* Parameter sets (SPS/PPS/VPS) taken from the first key frame. */
#define CU_MP4_PARAMS_MAX 8192
/* Frames a video may reorder (B-frame depth): H.264/H.265's own maximum. */
#define CU_MP4_REORDER_MAX 16
#define CU_MP4_VIDEO_TIMESCALE 90000

/* A writer is used by one thread at a time. */
typedef struct cu_mp4 cu_mp4;

struct cu_mp4_opts {
	/* true: fragmented MP4 (ftyp, a moov without samples, then one
	 * moof+mdat per key frame, and an mfra index at the end; the ftyp and
	 * moov go out with the first fragment); false: plain MP4 (ftyp, mdat,
	 * moov at the end). */
	bool fragmented;
	/* Where the bytes go: exactly one of write and path.
	 * write: called with consecutive bytes of the file in order; returns 0
	 * or a negative cu_err, which stops the writer and is returned by the
	 * call that caused the write. A plain MP4 must be patched after its
	 * media is written, so with write it is built in an unlinked temporary
	 * file in tmp_dir and handed to write by cu_mp4_finish. */
	int (*write)(void *ctx, const uint8_t *data, size_t len);
	void *ctx;                  /* passed to write */
	/* path: a new file (it must not exist), written as <path>.tmp and
	 * renamed to path (never replacing a file) after an fsync by
	 * cu_mp4_finish; cu_mp4_free without a finish removes <path>.tmp. */
	const char *path;
	const char *tmp_dir;        /* for write + plain; NULL = "/tmp" */
	/* Camera name (cu_camera_name_check) for the metadata: title
	 * "custody camera <name>", comment "custody camera=<name> start=<ISO
	 * 8601 of time 0, µs>"; NULL = none. */
	const char *camera;
};

/* Creates a writer. Nothing is written until the first video key frame that
 * carries its parameter sets has come, so a failure before that leaves no
 * bytes behind. On failure *ret is untouched. Silences FFmpeg's logging for
 * the whole process (the library never prints). */
int cu_mp4_new(const struct cu_mp4_opts *o, cu_mp4 **ret);

/* Adds one frame, in the order the store serves them (decode order per
 * track; tracks interleaved by time).
 *  - Video frames before the first key frame are dropped, and so is a key
 *    frame without its parameter sets (H.264 SPS+PPS, H.265 VPS+SPS+PPS, in
 *    the frame as the importer and the RTSP client put them); the first one
 *    that has them sets the codec, the picture size and the sample entry
 *    (avcC/hvcC). Its time is the file's time 0 and its creation_time.
 *  - Frames earlier than that key frame (audio, or leading pictures of an
 *    open GOP) are dropped.
 *  - AAC: one ADTS frame per call (no CRC check, one raw data block); the
 *    first frame's header gives the AudioSpecificConfig. Audio that comes
 *    when the file was started without an audio track is dropped.
 * Returns 1 when the frame is (or will be) written, 0 when it was dropped
 * (audio held while no key frame has come may still be dropped later: it
 * then moves from audio_frames to dropped in cu_mp4_info),
 * CU_ERR_FORMAT / CU_ERR_UNSUPPORTED / CU_ERR_INVAL / CU_ERR_LIMIT for a
 * frame that cannot go in this file (the writer stays usable; a frame over
 * CU_FRAME_MAX is CU_ERR_LIMIT), or another negative cu_err
 * when writing failed, after which every call fails the same way. */
int cu_mp4_frame(cu_mp4 *m, const cu_frame *f);

/* Writes what is pending and the end of the file (the last fragment and an
 * mfra index, or the moov), then renames <path>.tmp to path or hands a
 * plain MP4 to write. CU_ERR_NOTFOUND when no usable video key frame came
 * (nothing was written). Call once; then cu_mp4_free. */
int cu_mp4_finish(cu_mp4 *m);

struct cu_mp4_info {
	int video_codec;            /* enum cu_codec, 0 before the first key frame */
	bool audio;                 /* the file has an AAC track */
	int width, height;          /* picture size from the SPS (or JPEG SOF) */
	uint64_t video_frames;      /* accepted (returned 1) */
	uint64_t audio_frames;
	uint64_t dropped;           /* returned 0 */
	uint64_t adjusted;          /* video frames whose time was moved to keep order */
	int64_t first_us;           /* time 0 of the file (µs since the epoch), -1 none */
	int64_t last_us;            /* latest frame time accepted, -1 none */
	uint64_t bytes;             /* bytes handed to write so far; for a path, the
	                               file's size once cu_mp4_finish succeeded */
};

/* Counters so far. */
void cu_mp4_info(const cu_mp4 *m, struct cu_mp4_info *ret);

/* Frees the writer; an unfinished <path>.tmp is removed. NULL is fine. */
void cu_mp4_free(cu_mp4 *m);

/* ---- JPEG stills ---- */

#define CU_STILL_FRAMES_MAX 1024               /* frames decoded for one still */
#define CU_STILL_SIDE_MAX 16384                /* picture width or height */
#define CU_STILL_PIXELS_MAX (8192u * 8192)     /* width x height */
#define CU_STILL_JPEG_MAX (64u * 1024 * 1024)  /* encoded JPEG */
#define CU_STILL_QUALITY_DEFAULT 3             /* mjpeg qscale: 2 best .. 31 worst */

struct cu_still_opts {
	int64_t at_us;              /* the moment wanted, µs since the epoch */
	const char *camera;         /* cu_camera_name_check; NULL = none */
	int quality;                /* 2..31, 0 = CU_STILL_QUALITY_DEFAULT */
};

/* Decodes frames[0..n) (video frames in decode order starting with a key
 * frame, H.264, H.265 or MJPEG; audio frames are skipped) and encodes the
 * picture shown at o->at_us — the last one whose time is <= at_us — as a
 * baseline JPEG (4:2:0, full range) with an EXIF APP1 segment and a COM
 * comment. DateTimeOriginal/SubSecTimeOriginal are that picture's own time
 * (which is at_us when at_us is a frame time). CU_ERR_NOTFOUND when at_us is
 * before the first picture or past the end of the last one (its time plus
 * its duration, when known); CU_ERR_MEDIA when the frames do not decode or
 * the picture is damaged. On success *ret_jpeg (malloc'd, free()) and
 * *ret_len are set; on failure they are untouched. */
int cu_still_jpeg(const cu_frame *const *frames, size_t n, const struct cu_still_opts *o,
                  uint8_t **ret_jpeg, size_t *ret_len);

#endif
