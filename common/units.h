// The units people write for limits, as systemd reads them: durations
// ("90s", "10m", "1h30m", "500ms"; a bare number is seconds), sizes ("512M",
// 1024-based K M G T in either case; a bare number is bytes) and CPU shares ("50%", "200%"
// for two CPUs). Used by the TOML config and by taskctl's options; no
// dependencies, so the client can link it.
#pragma once

#include <kj/common.h>
#include <kj/string.h>
#include <stdint.h>

namespace taskctl {

kj::Maybe<uint64_t> parseDurationUsec(kj::StringPtr text);
kj::Maybe<uint64_t> parseBytes(kj::StringPtr text);
kj::Maybe<uint64_t> parseCpuQuotaPerSecUsec(kj::StringPtr text);
// "50%" -> 500000 (CPU microseconds per second of wall time).

kj::Maybe<double> parseProgressFraction(kj::StringPtr text);
// A progress fraction as `taskctl progress` takes it and X_TASKCTL_PROGRESS=
// carries it: a plain decimal from 0 to 1 ("0.4", "1", ".25") or a percentage
// from 0% to 100% ("40%", "12.5%"). No signs, exponents or spaces, and no
// locale: the client and the daemon read the same text the same way.

kj::String formatDurationUsec(uint64_t usec);    // "1h30m", "2.5s", "500ms"
kj::String formatBytes(uint64_t bytes);          // "512M", "1.5G", "300"
kj::String formatCpuQuota(uint64_t usecPerSec);  // 1500000 -> "150%"

}  // namespace taskctl
