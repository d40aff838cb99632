#include "libs/common/checksum.h"

#include <cstdint>

#include "absl/strings/str_format.h"

namespace upshift {

std::string Fingerprint(absl::string_view data) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return absl::StrFormat("%016x", h);
}

}  // namespace upshift
