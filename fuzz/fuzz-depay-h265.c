/* Fuzz target: the H.265 depacketiser (cu_depay_push in lib/rtsp/depay.c).
 * The harness is fuzz-depay-h264.c, built for H.265: the input format and
 * the properties are described there. */
#define DEPAY_H265 1
#include "fuzz-depay-h264.c"
