#ifndef UPSHIFT_LIBS_COMMON_CHECKSUM_H_
#define UPSHIFT_LIBS_COMMON_CHECKSUM_H_

#include <string>
#include "absl/strings/string_view.h"

namespace upshift {

// 64-bit FNV-1a of `data` as 16 lowercase hex digits: detects a changed script, not an attacker.
std::string Fingerprint(absl::string_view data);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_CHECKSUM_H_
