// libFuzzer target: the validators every name, version, email and id from outside passes, and the
// page tokens clients hand back. What a validator accepts must have the shape it promises.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "libs/common/paging.h"
#include "libs/common/validation.h"

namespace {

bool DatabaseNameShape(const std::string& s) {
  if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool Printable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s(reinterpret_cast<const char*>(data), size);
  if (upshift::ValidateDatabaseName(s).ok() && !DatabaseNameShape(s)) std::abort();
  if (upshift::ValidateEmail(s).ok() && (!Printable(s) || s.find('@') == std::string::npos)) std::abort();
  if (upshift::ValidateVersion(s).ok() && (s.empty() || !Printable(s))) std::abort();
  if (upshift::ValidateRequestId(s).ok() && !Printable(s)) std::abort();
  if (upshift::ValidateUpgradeId(s).ok() && s.size() != 36) std::abort();
  // A page token comes back as it was handed out, or is refused.
  absl::StatusOr<std::vector<std::string>> fields = upshift::ParsePageToken(s, "databases", 1);
  if (fields.ok() && upshift::PageToken("databases", *fields) != s) {
    // Base64 allows more than one spelling of some inputs; the fields must still round-trip.
    absl::StatusOr<std::vector<std::string>> again =
        upshift::ParsePageToken(upshift::PageToken("databases", *fields), "databases", 1);
    if (!again.ok() || *again != *fields) std::abort();
  }
  return 0;
}
